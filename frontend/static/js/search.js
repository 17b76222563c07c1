// One search, live: its trials, Optuna's figures and the Pareto fronts, redrawn on every event of
// GET /api/searches/{id}/events (an epoch recorded, a trial asked, told or pruned), followed with cnn.follow.
"use strict";
(() => {
  const root = $("search-page"), id = root.dataset.searchId;
  const FIGURES = { pareto_params: "pareto-params", pareto_macs: "pareto-macs", history: "history",
    importances: "importances", intermediate: "intermediate", parallel: "parallel", pareto_optuna: "pareto-optuna" };
  let search = null, drawnAt = 0, pending = null, gone = false;
  const TRIAL_RUNNING = cnn.word("trial_states", "running");
  const [SEARCH_RUNNING, SEARCH_STOPPED] = cnn.words("search_statuses", "running", "stopped");

  const paramsText = (params) => Object.entries(params).map(([k, v]) => `${k.replace(/^architecture\./, "")}=${typeof v === "number" && !Number.isInteger(v) ? v.toPrecision(3) : v}`).join(" ");

  let rungsShown = false;
  // a trial's runs rung by rung (each a fresh run planned by its rung's budget): "150 s 61.2% → 450 s 70.1%"
  function rungCell(t) {
    const td = cnn.el("td", null, { class: "rungs" });
    td.dataset.rung = String(t.rung);
    t.rungs.forEach((r, i) => {
      if (i) td.append(" → ");
      td.append(cnn.el("a", `${r.budget_s} s ${r.best_val_acc === null ? r.run_status : cnn.pct(r.best_val_acc, 1)}`,
        { href: `/runs/${r.run_id}`, title: `rung ${r.rung + 1}: run ${r.run_id}, ${r.run_status}` }));
    });
    return td;
  }

  function drawRungs(s) {
    rungsShown = s.rungs.length > 0;
    $("rungs").hidden = !rungsShown;
    document.querySelector("#trials th.rung-col").hidden = !rungsShown;
    $("rung-list").replaceChildren(...s.rungs.map((r) => cnn.el("li",
      `rung ${r.rung + 1} · ${r.budget_s} s: ${r.finished} finished, ${r.active} queued or training`,
      { "data-rung": String(r.rung), "data-finished": String(r.finished) })));
  }

  function drawTrials(trials) {
    const tbody = $("trials").querySelector("tbody");
    tbody.replaceChildren();
    for (const t of trials.slice().reverse()) {
      const tr = document.createElement("tr");
      tr.dataset.state = t.state;
      const run = cnn.el("td");
      if (t.run_id) run.append(cnn.el("a", `run ${t.run_id}`, { href: `/runs/${t.run_id}` }));
      else if (t.problem) run.append(cnn.el("span", t.problem, { class: "muted" }));
      const state = t.run_status && t.state === TRIAL_RUNNING ? t.run_status : t.state;
      tr.append(cnn.el("td", t.number, { class: "num" }), cnn.statusCell(state), cnn.el("td", paramsText(t.params), { class: "params" }),
        cnn.el("td", cnn.int(t.net_params), { class: "num" }), cnn.el("td", cnn.int(t.macs), { class: "num" }),
        cnn.el("td", cnn.pct(t.best_val_acc ?? t.best_test_acc, 2), { class: "num" }),
        cnn.el("td", cnn.pct(t.test_acc_at_best_val, 2), { class: "num" }),
        cnn.el("td", t.epochs ? `${t.epochs_done} / ${t.epochs}` : "–", { class: "num" }),
        cnn.el("td", t.pruned_at ?? "–", { class: "num" }));
      if (rungsShown) tr.append(rungCell(t));
      tr.append(run);
      tbody.append(tr);
    }
  }

  function drawSummary(s) {
    $("search-title").textContent = s.name;
    document.title = `${s.name} · cnnlab`;
    cnn.statusBadge($("search-status"), s.status);
    const c = s.counts;
    $("search-facts").textContent = `${c.trials} of ${s.n_trials} trials (${c.completed} completed, ${c.pruned} pruned, ` +
      `${c.failed} failed, ${c.running} running, ${c.queued} queued) · ${c.infeasible} samples over the budget, never trained · ` +
      `${s.sampler} sampler, ${s.pruner} pruner · ${s.objectives.join(", ")} · by ${s.owner}`;
    $("search-note").textContent = s.note || "";
    const mine = cnn.mayChange(s.owner);
    $("search-stop").hidden = !mine || s.status !== SEARCH_RUNNING;
    $("search-resume").hidden = !mine || s.status !== SEARCH_STOPPED;  // a completed search has run all its trials
    $("search-delete").hidden = !mine;
    $("best").hidden = !s.best;
    drawRungs(s);
    drawWinner(s);
    if (s.best) {
      const where = s.rungs.length ? ` at rung ${s.best.rung + 1} (${s.rungs[s.best.rung].budget_s} s)` : "";
      $("best-facts").textContent = `trial ${s.best.number}${where} (run ${s.best.run_id}): ${cnn.pct(s.best.best_val_acc, 2)} validation accuracy (the objective: chosen on the validation images held out of the training set; the test set is reported, never ranked on), ` +
        `${cnn.pct(s.best.test_acc_at_best_val, 2)} test accuracy of its chosen epoch's weights (read once, when the trial ended), ` +
        `${cnn.int(s.best.net_params)} parameters, ${cnn.int(s.best.macs)} MACs`;
      $("best-params").textContent = JSON.stringify(s.best.params, null, 1);
    }
  }

  // "Train the winner": the best and compact side by side with paired seeds (SearchPublic.winner),
  // compared on the last epoch's test accuracy once both sides have finished a shared seed
  function drawWinner(s) {
    $("winner-form").hidden = !s.best || !cnn.mayChange(s.owner);
    const w = s.winner;
    $("winner").hidden = !w;
    if (!w) return;
    const spread = (g) => g.summary.figures[w.figure];
    $("winner-facts").textContent = `Both sides trained ${w.budget_s} s (the search's full budget) on the whole training set with ` +
      `seeds ${w.winner.seeds.join(", ")}; compared on the last epoch's test accuracy (annealed to the budget: no epoch is chosen, ` +
      `so the test set chooses nothing). Baseline: ${w.baseline}.`;
    $("winner-table").querySelector("tbody").replaceChildren(...[["winner", w.winner], [w.baseline, w.baseline_group]].map(([side, g]) => {
      const f = spread(g), tr = document.createElement("tr");
      tr.append(cnn.el("td", side),
        cnn.el("td", `${g.summary.n} of ${g.seeds.length}`, { class: "num" }),
        cnn.el("td", f.mean === null ? "–" : `${cnn.pct(f.mean, 2)}${f.std === null ? "" : ` ± ${(100 * f.std).toFixed(2)}`}`, { class: "num" }),
        cnn.el("td", f.ci_low === null ? "–" : `${cnn.pct(f.ci_low, 2)} to ${cnn.pct(f.ci_high, 2)}`, { class: "num" }));
      const td = cnn.el("td");
      td.append(cnn.el("a", `group ${g.id}`, { href: `/compare?groups=${w.winner.id},${w.baseline_group.id}` }));
      tr.append(td);
      return tr;
    }));
    const c = w.comparison, sentence = $("winner-sentence");
    $("winner").dataset.verdict = c ? c.verdict : "";
    sentence.className = "verdict-sentence " + (c ? c.verdict : "waiting");
    sentence.textContent = c ? c.sentence : `Waiting for both sides to finish a seed (${w.winner.summary.pending + w.baseline_group.summary.pending} runs queued or training).`;
  }

  // Optuna's figures and the fronts, built by the server (backend/searches/figures.py: percent and size
  // axes, the lab's palette) and drawn by cnn.charts.figure; one not drawn yet (too few trials) is a
  // placeholder that says why; Optuna's Pareto front shows only for two objectives
  async function drawFigures() {
    const r = await cnn.api("GET", `/api/searches/${id}/figures`);
    if (!r.ok) return;
    const notes = r.data.notes || {};
    for (const [name, div] of Object.entries(FIGURES)) {
      const fig = r.data[name], node = $(div);
      node.hidden = !fig && !notes[name];
      if (fig) cnn.charts.figure(node, fig, name === "parallel" ? { height: 420, margin: { t: 96, l: 70, r: 70 } } : { height: 360 });
      else if (notes[name]) cnn.charts.placeholder(node, notes[name]);
    }
    $("figure-notes").textContent = Object.entries(notes).filter(([name]) => !(name in FIGURES)).map(([, note]) => note).join(" · ");
  }

  // one refresh at a time; an event during one asks for another after it
  const refresh = cnn.serial(async () => {
    const r = await cnn.api("GET", `/api/searches/${id}`);
    if (r.status === 404) { $("search-facts").textContent = "This search was deleted."; return; }
    if (!r.ok) return;
    search = r.data;
    drawSummary(search);
    drawTrials(search.trials);
    const now = Date.now();  // the figures at most every 0.8 s (the table and facts on every event)
    if (now - drawnAt > 800 || search.status !== SEARCH_RUNNING) { drawnAt = now; await drawFigures(); }
    else if (!pending) pending = setTimeout(() => { pending = null; refresh(); }, 800);
    root.dataset.trials = String(search.trials.length);
    root.dataset.status = search.status;
    document.body.dataset.ready = "1";
  });

  async function act(action) {
    const r = action === "delete" ? await cnn.api("DELETE", `/api/searches/${id}`) : await cnn.api("POST", `/api/searches/${id}/${action}`);
    if (action === "delete" && r.ok) { location.href = "/searches"; return; }
    if (r.ok) cnn.showErrors($("search-actions"), []); else cnn.showApiErrors($("search-actions"), r);
    refresh();
  }
  $("search-stop").addEventListener("click", () => { if (confirm("Stop this search? Its queued and running trials are cancelled; you can resume it later.")) act("stop"); });
  $("search-resume").addEventListener("click", () => act("resume"));
  $("search-delete").addEventListener("click", () => { if (confirm("Delete this search? Its runs stay.")) act("delete"); });
  $("run-full").addEventListener("click", async () => {
    if (!search || !search.best) return;
    const r = await cnn.api("POST", "/api/runs", { name: `${search.name}: best (trial ${search.best.number}), full length`.slice(0, Number(root.dataset.runNameMax)), config: search.best.full_config });
    const out = $("run-full-result");
    out.replaceChildren();
    if (r.ok) { cnn.showErrors($("best"), []); out.append("Queued as ", cnn.el("a", `run ${r.data.id}`, { href: `/runs/${r.data.id}` })); }
    else cnn.showApiErrors($("best"), r);
  });

  $("winner-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = $("winner-form");
    const r = await cnn.api("POST", `/api/searches/${id}/winner`, { seeds: Number($("winner-seeds").value) });
    if (r.ok) { cnn.showErrors(form, []); search = r.data; drawSummary(search); }
    else cnn.showApiErrors(form, r);
  });

  cnn.follow(`/api/searches/${id}/events`, { search: () => refresh(), deleted: () => { gone = true; refresh(); } },
    { until: () => gone });
  refresh();
})();
