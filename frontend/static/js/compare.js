"use strict";
// Compare (and sweep) page: runs and groups of repeats side by side. Curves overlaid (train dashed,
// validation dotted, test solid, one colour per run or group; a group as its mean with a ±1 std
// band), the comparison table (a group: n, mean, std, 95% CI of the headline), and the headline
// against MACs and against params with the budget (a group with its 95% CI as error bars).
// The headline everywhere is test accuracy at the epoch chosen on validation. Two groups, exactly:
// their comparison (GET /api/groups/compare) in one sentence, with the per-seed differences.
// The URL (?ids=…&groups=… or /sweeps/N) reproduces the view. While a run is unfinished the page
// follows the runs list's event stream (GET /api/runs/events) and reads the comparison again when
// one of its runs records an epoch or changes status.
(() => {
  const root = document.getElementById("compare-page");
  const sweepId = root.dataset.sweepId;
  const budget = Number(document.body.dataset.paramBudget);
  const FINISHED = cnn.FINISHED, ON_TEST = cnn.word("selected_on", "test");
  const list = (name) => (new URLSearchParams(location.search).get(name) || "").split(",").filter(Boolean);

  async function wanted() {
    if (!sweepId) return { ids: list("ids"), groups: list("groups") };
    const r = await cnn.api("GET", `/api/sweeps/${sweepId}`);
    if (!r.ok) return { ids: [], groups: [] };
    document.getElementById("compare-title").textContent = `Sweep: ${r.data.name}`;
    document.getElementById("compare-sub").textContent = `grid ${JSON.stringify(r.data.grid)} · owner ${r.data.owner}`;
    return { ids: r.data.runs.map((run) => String(run.id)), groups: [] };
  }

  const hasAny = (xs) => (xs || []).some((v) => v !== null && v !== undefined);
  const groupLabel = (g) => cnn.plotText(`${g.group.name} (group ${g.group.id}, n=${g.group.summary.n})`);
  const runLabel = (r) => cnn.plotText(`${r.name} (#${r.id})`) + (r.selected_on === ON_TEST ? " [chosen on test]" : "");

  // a run's curve; an epoch the time budget cut (fraction < 1) shows an open marker and says so.
  // legend: the run's one legend entry (its test curve), its other curves toggle with it
  function runCurve(s, key, name, group, line, legend) {
    const cut = s.fraction.map((f) => f < 1);
    return { x: s.epoch, y: s[key], name: legend || name, legendgroup: group, showlegend: Boolean(legend), line,
      mode: cut.some(Boolean) ? "lines+markers" : "lines",
      marker: { symbol: "circle-open", size: cut.map((c) => (c ? 10 : 0)) },
      text: s.fraction.map((f) => (f < 1 ? `<br>${Math.round(100 * f)}% of the epoch (cut by the time budget)` : "")),
      hovertemplate: `epoch %{x}: %{y:${key.endsWith("acc") ? ".1%" : ".3f"}}%{text}<extra>${name}</extra>` };
  }

  // a group's curve: the mean over its runs, and for test accuracy a ±1 std band (lower edge, then
  // the upper edge filled down to it: Plotly's 'tonexty')
  function groupCurves(s, key, name, group, color, dash, band, legend) {
    const mean = s[`${key}_mean`], std = s[`${key}_std`].map((v) => v || 0);
    const out = [];
    if (band) {
      const edge = { x: s.epoch, legendgroup: group, mode: "lines", line: { width: 0, color }, showlegend: false, hoverinfo: "skip" };
      out.push({ ...edge, y: mean.map((m, i) => (m === null ? null : m - std[i])), name: name + " − 1 std" });
      out.push({ ...edge, y: mean.map((m, i) => (m === null ? null : m + std[i])), name: name + " + 1 std", fill: "tonexty",
        fillcolor: cnn.charts.alpha(color, 0.2) });
    }
    out.push({ x: s.epoch, y: mean, name: legend || name, legendgroup: group, showlegend: Boolean(legend), mode: "lines", line: { color, dash, width: 2.5 },
      customdata: s.epoch.map((_, i) => [std[i], s.n[i]]),
      hovertemplate: `epoch %{x}: %{y:.1%} ± %{customdata[0]:.1%} (n=%{customdata[1]})<extra>${name}</extra>` });
    return out;
  }

  // the curves (cnn.charts.lines): one legend entry per run or group, the line styles in the subtitle;
  // before any epoch a placeholder
  function drawCurves(data, groups) {
    const acc = [], loss = [];
    data.forEach((d, i) => {
      const color = cnn.colors[i % cnn.colors.length], label = runLabel(d.run), s = d.series;
      acc.push(runCurve(s, "train_acc", label + " train", label, { color, dash: "dash" }));
      acc.push(runCurve(s, "test_acc", label + " test", label, { color }, label));
      if (hasAny(s.val_acc)) acc.push(runCurve(s, "val_acc", label + " validation", label, { color, dash: "dot" }));
      loss.push(runCurve(s, "train_loss", label + " train", label, { color, dash: "dash" }));
      loss.push(runCurve(s, "test_loss", label + " test", label, { color }, label));
      if (hasAny(s.val_loss)) loss.push(runCurve(s, "val_loss", label + " validation", label, { color, dash: "dot" }));
    });
    groups.forEach((g, j) => {
      const color = cnn.colors[(data.length + j) % cnn.colors.length], label = groupLabel(g), s = g.series;
      acc.push(...groupCurves(s, "train_acc", label + " train (mean)", label, color, "dash", false));
      acc.push(...groupCurves(s, "test_acc", label + " test (mean ± 1 std)", label, color, "solid", true, label));
      if (hasAny(s.val_acc_mean)) acc.push(...groupCurves(s, "val_acc", label + " validation (mean)", label, color, "dot", false));
    });
    const planned = Math.max(1, ...data.map((d) => d.run.epochs || 0));
    const styles = "train dashed, validation dotted, test solid";
    // groups carry no loss curves: with groups alone the accuracy chart takes the row
    document.getElementById("cmp-loss").hidden = !data.length;
    document.getElementById("cmp-curves").classList.toggle("single", !data.length);
    cnn.charts.lines("cmp-acc", acc, { title: "Accuracy", subtitle: groups.length ? `${styles}; a group: its mean ± 1 std` : styles,
      ytitle: "accuracy", pct: true, epochs: planned, empty: "Waiting for the first epoch of these runs…" });
    if (!data.length) return;
    cnn.charts.lines("cmp-loss", loss, { title: groups.length ? "Loss of the runs" : "Loss", subtitle: groups.length ? `${styles}; groups: accuracy only` : styles,
      ytitle: "loss", epochs: planned, empty: "Waiting for the first epoch of these runs…" });
  }

  // the headline against a size (cnn.charts.scatter: sizes read 16.3M, 245k): runs as points,
  // groups as their mean with the 95% CI as error bars; labels shortened, the whole name on hover
  function drawSizes(data, groups) {
    const done = data.filter((d) => d.run.test_acc_at_best_val !== null);
    const shown = groups.filter((g) => g.group.summary.n > 0);
    const headOf = (g) => g.group.summary.figures.test_acc_at_best_val;
    const short = (label) => cnn.charts.shorten(label, 22);
    const traces = (key, unit) => [
      { type: "scatter", mode: "markers+text", name: "runs", x: done.map((d) => d.run[key]), y: done.map((d) => d.run.test_acc_at_best_val),
        text: done.map((d) => short(runLabel(d.run))), textposition: "top center", customdata: done.map((d) => runLabel(d.run)),
        marker: { size: 10, color: done.map((d) => cnn.colors[data.indexOf(d) % cnn.colors.length]),
          symbol: done.map((d) => (d.run.selected_on === ON_TEST ? "diamond-open" : "circle")) },
        hovertemplate: `%{customdata}: %{y:.1%} at %{x:.3~s} ${unit}<extra></extra>` },
      { type: "scatter", mode: "markers+text", name: "groups (mean, 95% CI)", x: shown.map((g) => g[key]), y: shown.map((g) => headOf(g).mean),
        text: shown.map((g) => short(groupLabel(g))), textposition: "top center",
        marker: { size: 12, symbol: "square", color: shown.map((g) => cnn.colors[(data.length + groups.indexOf(g)) % cnn.colors.length]) },
        error_y: { type: "data", symmetric: false, visible: true, thickness: 2, width: 6,
          array: shown.map((g) => (headOf(g).ci_high === null ? 0 : headOf(g).ci_high - headOf(g).mean)),
          arrayminus: shown.map((g) => (headOf(g).ci_low === null ? 0 : headOf(g).mean - headOf(g).ci_low)) },
        customdata: shown.map((g) => [cnn.ci(headOf(g)), headOf(g).n, groupLabel(g)]),
        hovertemplate: `%{customdata[2]}: %{y:.1%}, 95% CI %{customdata[0]} at %{x:.3~s} ${unit}<extra></extra>` },
    ].filter((t) => t.x.length);
    const common = { ytitle: "test accuracy", pct: true, si: true, subtitle: "at the epoch chosen on validation; a group: mean and 95% CI",
      empty: "No run has finished yet." };
    cnn.charts.scatter("cmp-macs", traces("macs", "MACs"), { ...common, title: "Test accuracy vs MACs", xtitle: "MACs" });
    cnn.charts.scatter("cmp-params", traces("params", "params"), { ...common, title: "Test accuracy vs parameters", xtitle: "parameters",
      xValues: [budget], marks: [{ x: budget, label: `budget ${cnn.int(budget)}`, tone: "bad" }] });
  }

  function swatchCell(i, ...content) {
    const td = document.createElement("td");
    td.append(cnn.el("span", "■ ", { "aria-hidden": "true", style: `color:${cnn.charts.color(i)}` }), ...content);
    return td;
  }

  function drawTable(data, groups) {
    const num = (v) => cnn.el("td", v, { class: "num" });
    const runRows = data.map((d, i) => {
      const tr = document.createElement("tr"), r = d.run;
      tr.dataset.runId = r.id;
      tr.append(swatchCell(i, cnn.el("a", r.name, { href: `/runs/${r.id}` })), cnn.statusCell(r.status),
        num(cnn.int(r.params)), num(cnn.int(r.macs)), num("1"), cnn.headlineCell(r), num("–"), num("–"),
        num(cnn.pct(r.best_val_acc)), num(cnn.pct(r.best_test_acc)), num(cnn.pct(r.last_train_acc)), num(cnn.minutes(r.train_seconds)));
      return tr;
    });
    const groupRows = groups.map((g, j) => {
      const tr = document.createElement("tr"), s = g.group.summary, f = s.figures, head = f.test_acc_at_best_val;
      tr.className = "group-row";
      tr.dataset.groupId = g.group.id;
      const name = swatchCell(data.length + j, cnn.el("a", g.group.name, { href: `/?group=${g.group.id}` }),
        " ", cnn.el("small", `group ${g.group.id} · seeds ${s.seeds.join(", ") || "–"}`, { class: "facts" }));
      const status = cnn.el("td", `${s.n} of ${s.runs} done` + (s.pending ? ` · ${s.pending} pending` : "") +
        (s.incomplete ? ` · ${s.incomplete} failed/cancelled` : ""), { class: "group-status" });
      const mean = num(head.mean === null ? "–" : cnn.pct(head.mean));
      mean.classList.add("headline");
      if (s.selected_on === ON_TEST && s.n) mean.append(" ", cnn.el("small", "chosen on test", { class: "on-test" }));
      const std = num(head.std === null ? "–" : `± ${(100 * head.std).toFixed(1)} pt`);
      const ci = num(cnn.ci(head));
      ci.classList.add("ci");
      tr.append(name, status, num(cnn.int(g.params)), num(cnn.int(g.macs)), num(String(s.n)), mean, std, ci,
        num(cnn.spread(f.best_val_acc)), num(cnn.spread(f.best_test_acc)), num("–"),
        num(f.train_seconds.mean === null ? "–" : cnn.minutes(f.train_seconds.mean)));
      return tr;
    });
    document.querySelector("#cmp-table tbody").replaceChildren(...runRows, ...groupRows);
  }

  // exactly two groups: a against b, paired by seed where they share seeds, in one sentence
  let verdictKey = null;
  async function drawVerdict(groups) {
    const box = document.getElementById("verdict");
    if (groups.length !== 2) { box.hidden = true; return; }
    const [a, b] = groups.map((g) => g.group);
    const key = `${a.id}:${a.summary.n}:${b.id}:${b.summary.n}`;
    if (key === verdictKey) return; // read again only when a run of either group has finished
    verdictKey = key;
    box.hidden = false;
    const sentence = document.getElementById("verdict-sentence"), facts = document.getElementById("verdict-facts");
    const seeds = document.getElementById("verdict-seeds");
    const r = await cnn.api("GET", `/api/groups/compare?a=${a.id}&b=${b.id}`);
    if (!r.ok) {
      cnn.showApiErrors(box, r);
      sentence.textContent = "";
      sentence.className = "verdict-sentence waiting";
      facts.textContent = ""; seeds.hidden = true;
      document.getElementById("verdict-validation").textContent = "";
      box.dataset.verdict = "";
      return;
    }
    cnn.showErrors(box, []);
    const c = r.data.comparison;
    box.dataset.verdict = c.verdict;
    sentence.className = "verdict-sentence " + c.verdict;
    sentence.textContent = c.sentence;
    facts.textContent = `a = ${c.a_label}, b = ${c.b_label} · test accuracy at the epoch chosen on validation · ` +
      `${c.method === "paired" ? `paired by seed over ${c.seeds.length} shared seeds` : "Welch's t-test (the groups share too few seeds to pair)"}` +
      ` · mean difference ${(100 * c.mean_diff).toFixed(2)} pt` +
      (c.ci_low !== null ? `, 95% CI ${(100 * c.ci_low).toFixed(2)} to ${(100 * c.ci_high).toFixed(2)} pt` : "") +
      (c.p_value !== null ? `, p = ${c.p_value.toPrecision(2)}` : "") +
      (c.seeds_needed !== null ? ` · about ${c.seeds_needed} seeds would resolve ${(100 * c.resolution).toFixed(1)} pt` : "");
    const v = r.data.validation;
    document.getElementById("verdict-validation").textContent = v ? `On the validation split itself: ${v.sentence}` : "";
    seeds.hidden = !c.differences.length;
    seeds.querySelector("tbody").replaceChildren(...c.differences.map((d, i) => {
      const tr = document.createElement("tr");
      tr.append(cnn.el("td", c.seeds[i] === undefined ? "–" : String(c.seeds[i])),
        cnn.el("td", `${d > 0 ? "+" : ""}${(100 * d).toFixed(2)} pt`, { class: "num" }));
      return tr;
    }));
  }

  // the config diff (ComparePublic.config_diff, backend.runs.configs): one row per option that differs,
  // one column per run; the options that are the same in all runs are counted, and shown on demand
  let lastDiff = null, lastDiffRuns = [];
  const diffValue = (v) => (typeof v === "string" ? v : JSON.stringify(v));
  function drawConfigDiff(diff, data) {
    const box = $("config-diff");
    lastDiff = diff; lastDiffRuns = data;
    box.hidden = !diff || diff.run_ids.length < 2;
    if (box.hidden) return;
    const all = $("config-diff-all").checked, runs = new Map(data.map((d) => [d.run.id, d.run]));
    const same = diff.same === 1 ? "1 option is the same in all runs" : `${cnn.int(diff.same)} options are the same in all runs`;
    $("config-diff-facts").textContent = (diff.differing === 0 ? "The runs' configs are the same. " :
      `${cnn.int(diff.differing)} ${diff.differing === 1 ? "option differs" : "options differ"}; `) + same + ".";
    const head = $("config-diff-table").querySelector("thead tr");
    head.replaceChildren(cnn.el("th", "Option", { scope: "col" }), ...diff.run_ids.map((id, i) => {
      const th = cnn.el("th", null, { scope: "col" }), run = runs.get(id);
      th.append(cnn.el("span", "■ ", { "aria-hidden": "true", style: `color:${cnn.charts.color(i)}` }),
        cnn.el("a", run ? `${run.name} (#${id})` : `#${id}`, { href: `/runs/${id}` }));
      return th;
    }));
    const rows = diff.options.filter((o) => all || o.differs).map((o) => {
      const tr = cnn.el("tr", null, { "data-path": o.path, class: o.differs ? "differs" : "same" });
      tr.append(cnn.el("th", o.path, { scope: "row" }), ...o.values.map((v, i) => (o.missing.includes(i)
        ? cnn.el("td", "(not set)", { class: "missing" }) : cnn.el("td", diffValue(v)))));
      return tr;
    });
    $("config-diff-table").querySelector("tbody").replaceChildren(...rows);
    box.dataset.differing = String(diff.differing);
  }
  $("config-diff-all").addEventListener("change", () => drawConfigDiff(lastDiff, lastDiffRuns));

  // the runs this view shows (its groups' runs too), and each one's status and epochs as last drawn: a
  // stream event that changes neither (a heartbeat's progress inside an epoch) reads nothing again
  let watched = new Set(), finished = false, stream = null;
  const drawn = new Map(), stamp = (run) => `${run.status}:${run.epochs_done}`;

  async function load() {
    const { ids, groups } = await wanted();
    if (!ids.length && !groups.length) {
      document.getElementById("compare-sub").textContent = "Tick runs or groups on the Runs page and press Compare selected.";
      // nothing chosen: each chart says so in place, and the page is ready
      for (const id of ["cmp-acc", "cmp-loss", "cmp-macs", "cmp-params"]) cnn.charts.placeholder(id, "No runs chosen yet.");
      finished = true;
      document.body.dataset.ready = "1";
      return;
    }
    const q = [ids.length ? "ids=" + ids.join(",") : "", groups.length ? "groups=" + groups.join(",") : ""].filter(Boolean).join("&");
    const r = await cnn.api("GET", "/api/compare?" + q);
    if (!r.ok) { cnn.showApiErrors($("compare-head"), r); finished = true; return; }
    const data = r.data.data, gs = r.data.groups;
    drawCurves(data, gs);
    drawSizes(data, gs);
    drawTable(data, gs);
    drawConfigDiff(r.data.config_diff, data);
    await drawVerdict(gs);
    root.dataset.runs = String(data.length);
    root.dataset.groups = String(gs.length);
    root.dataset.points = String(data.reduce((n, d) => n + d.series.epoch.length, 0));
    watched = new Set([...data.map((d) => d.run.id), ...gs.flatMap((g) => g.group.run_ids)]);
    for (const d of data) drawn.set(d.run.id, stamp(d.run));
    finished = data.every((d) => FINISHED.has(d.run.status)) && gs.every((g) => g.group.summary.pending === 0);
    if (finished && stream) stream.close();
    document.body.dataset.ready = "1";
  }
  const reload = cnn.serial(async () => {
    await load();
    root.dataset.updates = String(Number(root.dataset.updates || 0) + 1);
  });

  (async () => {
    await load();
    if (finished) return;
    stream = cnn.follow("/api/runs/events", {
      run: (run) => {
        if (!watched.has(run.id) || drawn.get(run.id) === stamp(run)) return;
        drawn.set(run.id, stamp(run));
        reload();
      },
      deleted: ({ id }) => { if (watched.has(id)) reload(); },
    }, { live: $("live"), until: () => finished });
  })();
})();
