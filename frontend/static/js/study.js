"use strict";
// A study: its entries, the launch form, and the report of a launch (study_report.js). While a run of
// the shown launch is unfinished, the page follows the runs list's event stream (GET /api/runs/events)
// and reads the report again when one of its runs records an epoch or changes status; those reads
// skip the class reports' images, and the full report is fetched again whenever another run finishes.
(() => {
  const root = document.getElementById("study");
  const studyId = Number(root.dataset.studyId);
  const form = document.getElementById("launch-form");
  const select = document.getElementById("launch-select");
  const report = document.getElementById("report");
  let study = null, finishedSeen = -1;

  function aug(a) {
    if (!a) return "none";
    const parts = [];
    if (a.crop) parts.push(`crop (pad ${a.padding ?? 4})`);
    if (a.flip) parts.push(a.alternate_flip ? "alternating flip" : "flip");
    if (a.cutout) parts.push(`cutout ${a.cutout}`);
    return parts.join(" + ") || "none";
  }

  function showStudy(s) {
    study = s;
    document.getElementById("study-name").textContent = s.name;
    document.getElementById("study-description").textContent = s.description || (s.slug ? "" : `made by ${s.owner}`);
    document.getElementById("entry-count").textContent = String(s.entries.length);
    document.querySelector("#entries tbody").replaceChildren(...s.entries.map((e) => {
      const c = e.config, tr = document.createElement("tr");
      const arch = typeof c.architecture === "string" ? c.architecture : (c.architecture.name || c.architecture.family || "custom");
      for (const [text, n] of [[e.key], [e.label], [arch], [c.epochs ?? 30, 1], [c.batch_size ?? 256, 1],
        [`${c.optimizer || "sgd"} lr ${c.lr ?? 0.2} ${c.schedule || "onecycle"}`], [aug(c.augment)], [e.baseline || ""],
        [(c.data && c.data.holdout !== undefined) ? c.data.holdout : "default", 1], [e.repeats || 1, 1]]) {
        tr.append(cnn.el("td", text, n ? { class: "num" } : {}));
      }
      return tr;
    }));
    document.getElementById("delete-study").hidden = Boolean(s.slug) || !cnn.mayChange(s.owner);
    const current = select.value;
    select.replaceChildren(...[...s.launches].reverse().map((l) =>
      cnn.el("option", `launch ${l.id} · ${new Date(l.created_at).toLocaleString()} · ×${l.epochs_scale} · ${l.finished}/${Object.values(l.run_ids || {}).flat().length || Object.keys(l.runs).length} finished`, { value: String(l.id) })));
    if (!s.launches.length) select.append(cnn.el("option", "not launched yet", { value: "" }));
    if (current && [...select.options].some((o) => o.value === current)) select.value = current;
  }

  function exportLinks() {
    const q = select.value ? `?launch=${select.value}` : "";
    for (const [id, ext] of [["export-csv", "csv"], ["export-html", "html"]]) {
      const a = document.getElementById(id);
      a.href = `/api/studies/${studyId}/report.${ext}${q}`;
      a.hidden = !select.value;
    }
  }

  let generation = 0; // a response to an older request (another launch chosen since) is dropped

  async function loadReport() {
    const mine = ++generation;
    const q = new URLSearchParams();
    if (select.value) q.set("launch", select.value);
    let r = await cnn.api("GET", `/api/studies/${studyId}/report?${q}&images=false`);
    if (mine !== generation || !r.ok) return;
    if (r.data.runs_finished !== finishedSeen) {
      const full = await cnn.api("GET", `/api/studies/${studyId}/report?${q}`);
      if (mine !== generation) return;
      if (full.ok) { r = full; finishedSeen = r.data.runs_finished; }
    }
    cnnReport.render(report, r.data, true);
    exportLinks();
    follow(r.data);
  }

  // the runs of the shown launch, and each one's status and epochs as last read: a stream event that
  // changes neither (a heartbeat's progress inside an epoch) reads nothing again
  let watched = new Set(), stream = null;
  const drawn = new Map(), stamp = (run) => `${run.status}:${run.epochs_done}`;
  const update = cnn.serial(async () => {
    const s = await cnn.api("GET", `/api/studies/${studyId}`);
    if (s.ok) showStudy(s.data);
    await loadReport();
    root.dataset.updates = String(Number(root.dataset.updates || 0) + 1);
  });
  function follow(data) {
    watched = new Set(data.table.map((row) => row.run_id).filter((id) => id !== null && id !== undefined));
    const unfinished = Boolean(data.launch) && !data.finished;
    if (unfinished && !stream) {
      stream = cnn.follow("/api/runs/events", {
        run: (run) => {
          if (!watched.has(run.id) || drawn.get(run.id) === stamp(run)) return;
          drawn.set(run.id, stamp(run));
          update();
        },
        deleted: ({ id }) => { if (watched.has(id)) update(); },
      }, { live: $("live") });
    } else if (!unfinished && stream) { stream.close(); stream = null; }
  }

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const body = { epochs_scale: Number(form.elements.epochs_scale.value) };
    if (form.elements.epochs_scale.value.trim() === "") body.epochs_scale = null;
    const data = {};
    for (const [name, key] of [["train_limit", "train_limit"], ["test_limit", "test_limit"]]) {
      const v = form.elements[name].value.trim();
      if (v !== "") data[key] = Number(v);
    }
    if (Object.keys(data).length) body.data = data;
    const button = document.getElementById("launch");
    button.disabled = true;
    const r = await cnn.api("POST", `/api/studies/${studyId}/launches`, body);
    button.disabled = false;
    if (!r.ok) { cnn.showApiErrors(form, r); return; }
    cnn.showErrors(form, []);
    const s = await cnn.api("GET", `/api/studies/${studyId}`);
    showStudy(s.data);
    select.value = String(r.data.id);
    finishedSeen = -1;
    document.querySelectorAll(".class-reports").forEach((n) => n.replaceChildren());
    loadReport();
  });
  select.addEventListener("change", () => {
    finishedSeen = -1;
    document.querySelectorAll(".class-reports").forEach((n) => n.replaceChildren());
    loadReport();
  });
  document.getElementById("delete-study").addEventListener("click", async () => {
    if (!confirm("Delete this study and its launches? Its runs stay.")) return;
    const r = await cnn.api("DELETE", `/api/studies/${studyId}`);
    if (r.ok || r.status === 204) location.href = "/studies";
  });

  (async () => {
    const s = await cnn.api("GET", `/api/studies/${studyId}`);
    if (!s.ok) { document.getElementById("study-name").textContent = `Study ${studyId} not found`; return; }
    showStudy(s.data);
    await loadReport();
    document.body.dataset.ready = "1";
  })();
})();
