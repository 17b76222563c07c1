"use strict";
// The run page's "Try it": classify dropped or chosen images, or random test images of the run's
// dataset (with their true class), through POST /api/runs/{id}/predict; each shows its top-5 bars
// and the time it took. User text (file names, class names) reaches the page only as text.
// A model being exported is followed on the run's event stream (its `model` events) until it is
// ready or failed; a run that finishes while the page is open is looked at again (run.js says so), and
// so is one whose model its stream says is ready or failed ("run-model"): Try it appears without a reload.
// The random test images come with the class report run.js reads ("run-evaluation"), when the run has one.
(() => {
  const root = document.getElementById("run");
  const runId = root.dataset.runId;
  const maxFiles = Number(root.dataset.predictMaxFiles);  // the server's CNNLAB_PREDICT_MAX_FILES
  const [EXPORTING, READY, FAILED] = cnn.words("model_statuses", "exporting", "ready", "failed");
  const SUCCEEDED = cnn.word("run_statuses", "succeeded");
  const section = $("try-it");
  let samples = [], classes = [], stream = null;

  function show(items, answer) {
    $("try-results").replaceChildren(...answer.data.map((d, i) => {
      const item = items[i], fig = cnn.el("figure", null, { class: "try-item", "data-top": d.top[0].class });
      fig.append(cnn.el("img", null, { src: item.src, alt: item.name }));
      const cap = cnn.el("figcaption");
      cap.append(cnn.el("strong", item.name));
      if (item.truth !== undefined) cap.append(cnn.el("span", ` true: ${item.truth}`, { class: d.top[0].class === item.truth ? "right" : "wrong" }));
      cap.append(cnn.el("small", ` ${d.ms.toFixed(1)} ms`, { class: "facts" }));
      fig.append(cap);
      const bars = cnn.el("ol", null, { class: "bars" });
      for (const t of d.top) {
        const li = cnn.el("li"), bar = cnn.el("span", null, { class: "bar" });
        bar.style.width = `${Math.max(1, Math.round(t.probability * 100))}%`;
        li.append(cnn.el("span", t.class, { class: "label" }), bar, cnn.el("span", cnn.pct(t.probability), { class: "num" }));
        bars.append(li);
      }
      fig.append(bars);
      return fig;
    }));
    root.dataset.tried = String(answer.data.length);
  }

  async function classify(items) {
    cnn.showErrors(section, []);
    const form = new FormData();
    for (const item of items) form.append("files", item.blob, item.name);
    const r = await fetch(`/api/runs/${runId}/predict?k=5`, { method: "POST", body: form, headers: cnn.csrf() ? { "X-CSRF-Token": cnn.csrf() } : {} });
    let data = null;
    try { data = await r.json(); } catch (e) { data = null; }
    if (!r.ok) { cnn.showApiErrors(section, { ok: r.ok, status: r.status, data }); return; }
    show(items, data);
  }

  const fromFiles = (files) => classify([...files].slice(0, maxFiles).map((f) => ({ blob: f, name: f.name, src: URL.createObjectURL(f) })));

  async function randomTests() {
    const picks = [...samples].sort(() => Math.random() - 0.5).slice(0, 6);
    const items = await Promise.all(picks.map(async (s) => {
      const src = "data:image/png;base64," + s.png;
      return { blob: await (await fetch(src)).blob(), name: `test image ${s.index}`, src, truth: classes[s.true] };
    }));
    if (items.length) classify(items);
  }

  $("try-files").addEventListener("change", (e) => fromFiles(e.target.files));
  const drop = $("try-drop");
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => { e.preventDefault(); drop.classList.remove("over"); fromFiles(e.dataTransfer.files); });
  $("try-random").addEventListener("click", randomTests);

  function useEvaluation(e) {
    samples = (e && e.samples) || [];
    classes = e ? e.classes : [];
    $("try-random").disabled = !samples.length;
  }

  async function ready() {
    useEvaluation(root.evaluation);
    $("try-none").textContent = "";
    $("try-export").hidden = true;
    $("try-tools").hidden = false;
    root.dataset.tryReady = "1";
  }

  // the run's model: ready (try it), being exported (wait for it), or none (say why; its owner may export it)
  async function look() {
    const card = await cnn.api("GET", `/api/runs/${runId}/model-card`);
    if (!card.ok) return;
    const model = card.data.model;
    if (model && model.status === READY) { await ready(); return; }
    if (model && model.status === EXPORTING) {
      $("try-none").textContent = "Exporting the model…";
      follow();
      return;
    }
    $("try-none").textContent = model && model.status === FAILED ? `No model to try: its export failed (${model.reason}).`
      : card.data.status === SUCCEEDED ? "No model to try: this run finished before cnnlab exported models."
        : cnn.FINISHED.has(card.data.status) ? `No model to try: this run is ${card.data.status}; only a run that succeeds is exported.`
          : "No model to try yet: a run is exported when it succeeds.";
    $("try-export").hidden = !(card.data.status === SUCCEEDED && cnn.mayChange(card.data.owner));
    root.dataset.tryReady = "0";
  }

  // an export under way: the run's event stream says when the model is no longer being exported
  function follow() {
    if (stream) return;
    let exporting = true;
    stream = cnn.follow(`/api/runs/${runId}/events`, {
      model: (m) => {
        exporting = m !== null && m.status === EXPORTING;
        if (!exporting) { stream = null; look(); }
      },
      deleted: () => { exporting = false; stream = null; },
    }, { until: () => !exporting });
  }

  $("try-export").addEventListener("click", async () => {
    $("try-export").disabled = true;
    const r = await cnn.api("POST", `/api/runs/${runId}/export`);
    $("try-export").disabled = false;
    if (!r.ok) { cnn.showApiErrors(section, r); return; }
    cnn.showErrors(section, []);
    look();
  });
  root.addEventListener("run-finished", look);
  root.addEventListener("run-model", (e) => { if (e.detail) look(); });
  root.addEventListener("run-evaluation", (e) => useEvaluation(e.detail));
  look();
})();
