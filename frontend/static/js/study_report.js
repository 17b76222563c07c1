"use strict";
// A study launch's report, drawn from the object GET /api/studies/{id}/report returns. The same
// code draws the live page (study.js) and the self-contained export (study_export.html), so what
// is exported is exactly what was seen. User text reaches the page only through textContent, and
// Plotly only through cnn.plotText. The charts are cnn.charts' (charts.js, inlined in the export too).
const cnnReport = (() => {
  const DIFF_PT = 0.005; // differences of at least half a point are highlighted

  function cell(text, cls) { return cnn.el("td", text, cls ? { class: cls } : {}); }
  function diffCell(d) {
    if (d === null || d === undefined) return cell("–", "num");
    const cls = d >= DIFF_PT ? "num diff up" : d <= -DIFF_PT ? "num diff down" : "num diff";
    return cell(`${d >= 0 ? "+" : "−"}${Math.abs(100 * d).toFixed(1)} pt`, cls);
  }
  // minutes: fewer is better; a tenth of the reference or more counts as a difference
  function minutesCell(d, ref) {
    if (d === null || d === undefined) return cell("–", "num");
    const big = Math.abs(d) >= 0.1 * ref;
    return cell(`${d >= 0 ? "+" : "−"}${Math.abs(d).toFixed(1)}`, big ? (d < 0 ? "num diff up" : "num diff down") : "num diff");
  }
  function sizeCell(ours, ref) {
    const text = ref === null || ref === undefined || ours === null || ours === undefined || ours === ref
      ? cnn.int(ours) : `${cnn.int(ours)} (ref ${cnn.int(ref)})`;
    return cell(text, ours !== null && ref !== null && ref !== undefined && ours !== ref ? "num diff mismatch" : "num");
  }
  const num = (x, d = 1) => (x === null || x === undefined ? "–" : Number(x).toFixed(d));
  // an entry repeated over seeds names each of its runs by its seed
  const runLabel = (e) => ((e.repeats || 1) > 1 ? `${e.label} · seed ${e.seed ?? e.repeat}` : e.label);
  const runId = (e) => `${e.key}#${e.repeat || 0}`;
  const meanStd = (s) => (!s || s.mean === null ? "–" : s.std === null ? cnn.pct(s.mean, 2)
    : `${cnn.pct(s.mean, 2)} ± ${(100 * s.std).toFixed(2)} pt`);

  function drawTable(table, rows, live) {
    const tbody = table.querySelector("tbody");
    tbody.replaceChildren(...rows.map((r) => {
      const tr = document.createElement("tr");
      const name = document.createElement("th"); name.scope = "row";
      if (live && r.run_id) name.append(cnn.el("a", r.entry, { href: `/runs/${r.run_id}` })); else name.textContent = r.entry;
      tr.append(name);
      tr.append(cnn.statusCell(r.status || "no run"));
      tr.append(cell(r.seed ?? "–", "num"), sizeCell(r.params, r.ref_params), sizeCell(r.macs, r.ref_macs),
        cell(`${r.epochs_done ?? "–"} / ${r.ref_epochs ?? "–"}`, "num"),
        cell(cnn.pct(r.train_acc), "num"), cell(cnn.pct(r.ref_train_acc, 0), "num"), diffCell(r.diff_train_acc),
        cell(cnn.pct(r.test_acc), "num"), cell(cnn.pct(r.ref_test_acc, 0), "num"), diffCell(r.diff_test_acc),
        cell(r.best_val_acc === null || r.best_val_acc === undefined ? "–" : `${cnn.pct(r.best_val_acc)} (ep ${r.val_epoch})`, "num"),
        cell(cnn.pct(r.test_acc_at_best_val), "num"),
        cell(r.best_test_acc === null ? "–" : `${cnn.pct(r.best_test_acc)} (ep ${r.best_epoch})`, "num"),
        cell(r.overfit_epoch ?? "–", "num"), cell(num(r.minutes), "num"), cell(num(r.minutes_per_120), "num"),
        cell(num(r.ref_minutes), "num"), minutesCell(r.diff_minutes, r.ref_minutes));
      return tr;
    }));
  }

  function drawGroups(root, groups) {
    const section = root.querySelector(".groups-section");
    section.hidden = !groups || groups.length === 0;
    if (section.hidden) return;
    section.querySelector("tbody").replaceChildren(...groups.map((g) => {
      const tr = document.createElement("tr"), h = g.headline;
      const name = document.createElement("th"); name.scope = "row"; name.textContent = g.entry;
      tr.append(name, cell(`${g.n} / ${g.repeats}`, "num"), cell(g.seeds.join(", ") || "–", "num"),
        cell(meanStd(h) + (g.selected_on === cnn.word("selected_on", "test") ? " (last epoch)" : ""), "num"),
        cell(!h || h.ci_low === null ? "–" : `${cnn.pct(h.ci_low, 2)} – ${cnn.pct(h.ci_high, 2)}`, "num"),
        cell(!h ? "–" : `${cnn.pct(h.min, 2)} – ${cnn.pct(h.max, 2)}`, "num"),
        cell(meanStd(g.best_val_acc), "num"), cell(meanStd(g.final_test_acc), "num"));
      tr.dataset.key = g.key;
      return tr;
    }));
  }

  function drawConclusions(root, report) {
    root.querySelector(".claims").replaceChildren(...report.claims.map((c) => {
      const li = document.createElement("li");
      li.dataset.verdict = c.verdict;
      li.append(cnn.el("span", c.verdict, { class: "verdict " + c.verdict }), " ", cnn.el("span", c.text), cnn.el("br"));
      if (c.reason) li.append(cnn.el("small", `Why ${c.verdict}: ${c.reason}`, { class: "reason" }), cnn.el("br"));
      li.append(cnn.el("small", c.detail, { class: "facts" }));
      return li;
    }));
    root.querySelector(".claims-empty").hidden = report.claims.length > 0;
    root.querySelector(".findings").replaceChildren(...report.findings.map((f) => cnn.el("li", f)));
  }

  function overlay(div, entries, field, title, subtitle, ytitle, pct) {
    const traces = [];
    entries.forEach((e, i) => {
      if (!e.series.epoch.length) return;
      const index = e.entry_index ?? i, color = cnn.colors[index % cnn.colors.length], name = cnn.plotText(runLabel(e));
      traces.push({ x: e.series.epoch, y: e.series["train_" + field], name: name + " (train)", legendgroup: runId(e), showlegend: false, mode: "lines", line: { dash: "dash", color, width: 1 } });
      traces.push({ x: e.series.epoch, y: e.series["test_" + field], name, legendgroup: runId(e), mode: "lines", line: { color } });
    });
    cnn.charts.lines(div, traces, { title, subtitle, ytitle, pct, empty: entries.length ? "Waiting for the first epoch…" : "No run yet: launch the study." });
  }

  function minis(container, entries) {
    if (container.children.length !== entries.length) {
      container.replaceChildren(...entries.map((e) => cnn.el("div", null, { class: "mini", role: "img", "aria-label": `Train and test accuracy of ${runLabel(e)}` })));
    }
    entries.forEach((e, i) => {
      const s = e.series, mark = [];
      // the epoch chosen on validation where there is one; else the best test epoch (chosen on test)
      const chosen = e.val_epoch || e.best_epoch;
      for (const [epoch, tone, label] of [[chosen, "ok", "best"], [e.overfit_epoch, "bad", "overfits"]]) {
        if (epoch) mark.push({ x: epoch, tone, width: 1.5, name: label });
      }
      const c = cnn.charts.color;
      const traces = [
        { x: s.epoch, y: s.train_acc, name: "train", mode: "lines", line: { dash: "dash", color: c(0) } },
        { x: s.epoch, y: s.test_acc, name: "test", mode: "lines", line: { color: c(0) } },
      ];
      if (s.val_acc && s.val_acc.some((v) => v !== null)) traces.push({ x: s.epoch, y: s.val_acc, name: "validation", mode: "lines", line: { dash: "dot", color: c(4) } });
      cnn.charts.lines(container.children[i], traces, { title: cnn.plotText(runLabel(e)), pct: true, legend: false, marks: mark, height: 220,
        xtitle: "", empty: "Waiting for the first epoch…" });
    });
  }

  function classReport(details, entry) {
    const chart = (what) => cnn.el("div", null, { class: "chart", role: "img", "aria-label": `${what} of ${runLabel(entry)}` });
    const confusion = chart("Confusion matrix"), perClass = chart("Test accuracy per class");
    const charts = cnn.el("div", null, { class: "charts" }); charts.append(confusion, perClass);
    const gallery = cnn.el("div", null, { class: "gallery" });
    details.append(charts, cnn.el("h4", "Misclassified test images"), gallery);
    // a chart drawn while its <details> is closed has no size: draw when first opened
    details.addEventListener("toggle", () => {
      if (details.open && !details.dataset.drawn) { details.dataset.drawn = "1"; cnn.classReport(confusion, perClass, gallery, entry.evaluation); }
    });
  }

  function drawClasses(container, entries) {
    for (const entry of entries) {
      if (!entry.evaluation || container.querySelector(`[data-key="${CSS.escape(runId(entry))}"]`)) continue;
      const details = cnn.el("details", null, { "data-key": runId(entry), class: "class-report" });
      // stored reports are served as saved: those from before views were named lack the field
      details.append(cnn.el("summary", `${runLabel(entry)}: ${cnn.pct(entry.evaluation.accuracy)} of the test set (${entry.evaluation.views || "image"}), weights of epoch ${entry.evaluation.epoch}`));
      classReport(details, entry);
      container.append(details);
    }
    container.parentElement.hidden = container.children.length === 0;
  }

  function render(root, report, live) {
    const l = report.launch;
    root.querySelector(".report-launch").textContent = l
      ? `Launch ${l.id} · ${new Date(l.created_at).toLocaleString()} · epochs ×${l.epochs_scale}` +
        (l.data_override ? ` · data ${JSON.stringify(l.data_override)}` : "") +
        ` · ${report.runs_finished} of ${report.runs_total} runs finished`
      : "Not launched yet: launch it to get a report.";
    const quick = root.querySelector(".quick-version");
    quick.textContent = report.quick_version || "";
    quick.hidden = !report.quick_version;
    root.querySelector(".protocol").textContent = report.protocol || "";
    drawConclusions(root, report);
    drawGroups(root, report.groups);
    drawTable(root.querySelector(".report-table"), report.table, live);
    const entries = report.entries.filter((e) => e.run);
    overlay(root.querySelector(".report-acc"), entries, "acc", "Accuracy, every run", "train dashed, test solid", "accuracy", true);
    overlay(root.querySelector(".report-loss"), entries, "loss", "Loss, every run", "train dashed, test solid", "loss", false);
    minis(root.querySelector(".minis"), entries);
    drawClasses(root.querySelector(".class-reports"), report.entries);
    root.dataset.finished = report.finished ? "1" : "0";
    root.dataset.runs = String(entries.length);
  }

  return { render };
})();
