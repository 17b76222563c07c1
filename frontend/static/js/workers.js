"use strict";
// The Workers page: every worker (GET /api/workers: up or down, device, the run it trains, since when,
// its seconds per epoch) and the queue (the queued runs of GET /api/runs in their order, each with its
// place and ETA: RunPublic.queue). Read again every few seconds and whenever a run changes (the runs'
// event stream), one read at a time.
(() => {
  const root = $("workers-page");
  const REFRESH_S = Number(root.dataset.refreshS), SHOWN = Number(root.dataset.queueShown);
  const ago = (iso) => {
    const s = Math.max(0, (Date.now() - new Date(iso).getTime()) / 1000);
    return s < 60 ? `${Math.round(s)} s ago` : `${cnn.duration(s)} ago`;
  };

  function workerRow(w) {
    const tr = document.createElement("tr");
    tr.dataset.worker = w.name;
    tr.dataset.up = w.up ? "1" : "0";
    const state = cnn.el("span", w.up ? "up" : "down", { class: `status ${w.up ? "running" : "failed"} worker-state` });
    const stateCell = document.createElement("td");
    stateCell.append(state);
    const trains = document.createElement("td");
    if (w.run) {
      trains.append(cnn.el("a", w.run.name, { href: `/runs/${w.run.id}` }),
        cnn.el("small", ` run ${w.run.id} · epoch ${Math.min(w.run.epochs_done + 1, w.run.epochs)} of ${w.run.epochs}`));
      tr.dataset.runId = w.run.id;
    } else trains.append(w.up ? "idle" : "–");
    tr.append(cnn.el("td", w.name, { class: "name", title: `${w.name} on ${w.host}` }), stateCell, cnn.el("td", w.device), trains,
      cnn.el("td", w.run && w.run.since ? cnn.when(w.run.since) : "–"),
      cnn.el("td", w.run && w.run.epoch_s !== null ? `${w.run.epoch_s.toFixed(1)} s` : "–", { class: "num" }),
      cnn.el("td", cnn.when(w.started_at)), cnn.el("td", ago(w.last_seen_at)));
    return tr;
  }

  function queueRow(run) {
    const q = run.queue, tr = document.createElement("tr");
    tr.dataset.runId = run.id;
    tr.dataset.position = q.position;
    const name = document.createElement("td");
    name.append(cnn.el("a", run.name, { href: `/runs/${run.id}` }), cnn.el("small", ` run ${run.id}`));
    const when = (s) => (s === null ? "when a worker is up" : cnn.inAbout(s));
    tr.append(cnn.el("td", cnn.ordinal(q.position), { class: "num" }), name, cnn.el("td", run.owner), cnn.el("td", run.architecture),
      cnn.el("td", run.epochs_done ? `${run.epochs_done} of ${run.epochs} done` : cnn.int(run.epochs), { class: "num" }),
      cnn.el("td", when(q.eta_start_s), { title: cnn.queueText(q) }), cnn.el("td", when(q.eta_finish_s)));
    return tr;
  }

  const load = cnn.serial(async () => {
    const [w, r] = await Promise.all([cnn.api("GET", "/api/workers"),
      cnn.api("GET", `/api/runs?status=${cnn.word("run_statuses", "queued")}&sort=created_at&limit=${SHOWN}`)]);
    if (!w.ok) { cnn.showApiErrors(root, w); return; }
    if (!r.ok) { cnn.showApiErrors(root, r); return; }
    cnn.showErrors(root, []);
    $("workers-summary").textContent = `${w.data.up} of ${w.data.count} worker${w.data.count === 1 ? "" : "s"} up`;
    document.querySelector("#workers tbody").replaceChildren(...w.data.data.map(workerRow));
    $("workers-empty").hidden = w.data.count > 0;
    const queued = r.data.data.filter((run) => run.queue).sort((a, b) => a.queue.position - b.queue.position);
    document.querySelector("#queue tbody").replaceChildren(...queued.map(queueRow));
    $("queue-empty").hidden = r.data.count > 0;
    $("queue-more").hidden = r.data.count <= queued.length;
    $("queue-more").textContent = `${cnn.int(r.data.count)} runs are queued; the first ${cnn.int(queued.length)} read are shown.`;
    document.body.dataset.ready = "1";
  });

  // a run that starts, ends or joins the queue moves the queue at once; its epochs wait for the next read
  const statuses = new Map();
  cnn.follow("/api/runs/events", {
    run: (run) => { if (statuses.get(run.id) !== run.status) { statuses.set(run.id, run.status); load(); } },
    deleted: (d) => { if (statuses.delete(d.id)) load(); },
  }, { live: $("live") });
  setInterval(load, REFRESH_S * 1000);
  load();
})();
