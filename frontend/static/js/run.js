"use strict";
// One run: curves that grow live over SSE (EventSource reconnects by itself with Last-Event-ID),
// markers for the best epoch and the onset of overfitting, the seed-style log, layers, config.
(() => {
  const root = document.getElementById("run");
  const runId = Number(root.dataset.runId);
  const metrics = new Map();
  let status = null, analysis = {}, source = null, drawPending = false;
  const FINISHED = cnn.FINISHED;

  function vline(epoch, color, label) {
    return epoch ? { shapes: [{ type: "line", x0: epoch, x1: epoch, yref: "paper", y0: 0, y1: 1, line: { color, dash: "dot", width: 2 } }],
      annotations: [{ x: epoch, yref: "paper", y: 1.02, text: label, showarrow: false, font: { color, size: 11 } }] } : { shapes: [], annotations: [] };
  }

  function draw() {
    drawPending = false;
    const rows = [...metrics.values()].sort((a, b) => a.epoch - b.epoch);
    const x = rows.map((m) => m.epoch);
    const marks = [vline(analysis.best_epoch, "#1d6b36", "best"), vline(analysis.overfit_epoch, "#b3261e", "overfits")];
    const shapes = marks.flatMap((m) => m.shapes), annotations = marks.flatMap((m) => m.annotations);
    const layout = (title, ytitle, pct) => cnn.chartLayout(title, ytitle, { pct, epochs: x.length, legend: { orientation: "h" }, shapes, annotations });
    Plotly.react("acc-chart", [
      { x, y: rows.map((m) => m.train_acc), name: "train", mode: "lines+markers", line: { dash: "dash", color: "#1f77b4" } },
      { x, y: rows.map((m) => m.test_acc), name: "test", mode: "lines+markers", line: { color: "#1f77b4" } },
    ], layout("Accuracy", "accuracy", true), cnn.plotConfig);
    Plotly.react("loss-chart", [
      { x, y: rows.map((m) => m.train_loss), name: "train", mode: "lines+markers", line: { dash: "dash", color: "#d62728" } },
      { x, y: rows.map((m) => m.test_loss), name: "test", mode: "lines+markers", line: { color: "#d62728" } },
    ], layout("Loss", "loss", false), cnn.plotConfig);
    document.getElementById("log").textContent = rows.map(cnn.seedLine).join("\n");
    root.dataset.points = String(rows.length);
    const m = [];
    if (analysis.best_epoch) m.push(`Best test accuracy at epoch ${analysis.best_epoch}.`);
    m.push(analysis.overfit_epoch ? `Overfitting starts after epoch ${analysis.overfit_epoch}: test accuracy stops rising while train accuracy keeps rising.` : "No overfitting onset detected yet.");
    document.getElementById("markers").textContent = m.join(" ");
  }
  const scheduleDraw = () => { if (!drawPending) { drawPending = true; requestAnimationFrame(draw); } };

  async function refreshAnalysis() {
    const r = await cnn.api("GET", `/api/runs/${runId}/analysis`);
    if (r.ok) { analysis = r.data; scheduleDraw(); }
  }

  async function showClasses() {
    const r = await cnn.api("GET", `/api/runs/${runId}/evaluation`);
    if (!r.ok) return;
    const e = r.data;
    document.getElementById("classes").hidden = false;
    document.getElementById("eval-epoch").textContent = `(weights of epoch ${e.epoch}, ${cnn.pct(e.accuracy)} overall, test-time views: ${e.views})`;
    cnn.classReport(document.getElementById("confusion"), document.getElementById("per-class"), document.getElementById("gallery"), e);
    root.dataset.classes = "1";
  }

  function showStatus(run) {
    status = run.status;
    document.getElementById("run-name").textContent = run.name;
    cnn.statusBadge(document.getElementById("run-status"), run.status);
    document.getElementById("run-facts").textContent =
      `${run.architecture} · ${cnn.int(run.params)} params · ${cnn.int(run.macs)} MACs · owner ${run.owner} · epoch ${run.epochs_done} of ${run.epochs}` +
      (run.best_test_acc !== null ? ` · best test ${cnn.pct(run.best_test_acc)} (epoch ${run.best_epoch})` : "") +
      (run.worker_host ? ` · ${run.worker_host} (${run.device})` : "") + (run.attempt > 1 ? ` · attempt ${run.attempt}` : "");
    const trial = document.getElementById("run-search");
    trial.hidden = run.search_id === null;
    if (run.search_id !== null && !trial.children.length) {
      trial.append(`trial ${run.trial_number} of `, cnn.el("a", `search ${run.search_id}`, { href: `/searches/${run.search_id}` }));
    }
    document.getElementById("run-reason").textContent = (run.reason || "") +
      (run.cancelled_by ? ` (cancel asked by ${run.cancelled_by})` : "");
    const mine = cnn.mayChange(run.owner);
    document.getElementById("cancel").hidden = !mine;
    document.getElementById("cancel").disabled = FINISHED.has(run.status) || run.cancel_requested;
    document.getElementById("delete").hidden = !mine || !FINISHED.has(run.status);
    showProgress(run);
    document.getElementById("ckpt-best").hidden = run.epochs_done === 0;
    document.getElementById("ckpt-last").hidden = run.epochs_done === 0;
  }

  // progress inside the epoch, from the worker's last heartbeat: batches done, images/s, time left
  let batchSize = null, timeBudget = null;
  function showProgress(run) {
    const box = document.getElementById("progress-box"), p = run.progress;
    box.hidden = !(run.status === "running" && p);
    if (box.hidden) return;
    const bar = document.getElementById("epoch-progress");
    bar.max = p.batches; bar.value = p.batch;
    const perImage = p.images_per_s > 0 ? 1 / p.images_per_s : null;
    const epochLeft = perImage && batchSize ? (p.batches - p.batch) * batchSize * perImage : null;
    const done = [...metrics.values()];
    const perEpoch = done.length ? done.reduce((a, m) => a + m.seconds, 0) / done.length : (perImage && batchSize ? p.batches * batchSize * perImage : null);
    let runLeft = epochLeft !== null && perEpoch !== null ? epochLeft + (run.epochs - p.epoch) * perEpoch : null;
    if (runLeft !== null && timeBudget) runLeft = Math.min(runLeft, Math.max(0, timeBudget - run.train_seconds - (p.batch / p.batches) * (perEpoch || 0)));
    document.getElementById("progress-text").textContent =
      `epoch ${p.epoch} of ${run.epochs}: batch ${p.batch} of ${p.batches} · ${Math.round(p.images_per_s).toLocaleString("en-US")} images/s` +
      (epochLeft !== null ? ` · about ${cnn.duration(Math.max(1, epochLeft))} left in this epoch` : "") +
      (runLeft !== null ? `, ${cnn.duration(Math.max(1, runLeft))} in the run` : "");
    document.getElementById("run").dataset.progress = `${p.epoch}:${p.batch}`;
  }

  function connect() {
    const since = Math.max(0, ...metrics.keys());
    source = new EventSource(`/api/runs/${runId}/events?since_epoch=${since}`);
    const live = document.getElementById("live");
    source.onopen = () => { live.textContent = "● live"; };
    source.onerror = () => { live.textContent = FINISHED.has(status) ? "" : "reconnecting…"; };
    source.addEventListener("metric", (e) => { const m = JSON.parse(e.data); metrics.set(m.epoch, m); scheduleDraw(); refreshAnalysis(); });
    source.addEventListener("status", (e) => {
      showStatus(JSON.parse(e.data));
      if (FINISHED.has(status)) { source.close(); live.textContent = ""; refreshAnalysis(); showClasses(); }
    });
  }

  document.getElementById("cancel").addEventListener("click", async () => {
    const r = await cnn.api("POST", `/api/runs/${runId}/cancel`);
    if (r.ok) showStatus(r.data);
  });
  document.getElementById("delete").addEventListener("click", async () => {
    if (!confirm("Delete this run, its epochs and checkpoints?")) return;
    const r = await cnn.api("DELETE", `/api/runs/${runId}`);
    if (r.ok) window.location.assign("/");
  });

  (async () => {
    const run = await cnn.api("GET", `/api/runs/${runId}`);
    if (!run.ok) { document.getElementById("run-name").textContent = `Run ${runId} not found`; return; }
    batchSize = run.data.config.batch_size; timeBudget = run.data.config.time_budget_s;
    showStatus(run.data);
    document.getElementById("config").textContent = JSON.stringify(run.data.config, null, 2);
    const s = await cnn.api("POST", "/api/architectures/summary", { architecture: run.data.config.architecture });
    if (s.ok) cnn.layerRows(document.querySelector("#layers tbody"), s.data.rows);
    const past = await cnn.api("GET", `/api/runs/${runId}/metrics`);
    for (const m of past.data.data) metrics.set(m.epoch, m);
    await refreshAnalysis();
    draw();
    if (!FINISHED.has(run.data.status)) connect(); else showClasses();
    document.body.dataset.ready = "1";
  })();
})();
