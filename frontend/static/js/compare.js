"use strict";
// Compare (and sweep) page: overlaid curves (train dashed, test solid, one colour per run), the
// seed report's comparison table, and accuracy against MACs and against params with the budget.
// The URL (?ids=… or /sweeps/N) reproduces the view; it refreshes every 0.5 s while any run is unfinished.
(() => {
  const root = document.getElementById("compare-page");
  const sweepId = root.dataset.sweepId;
  const budget = Number(document.body.dataset.paramBudget);
  const FINISHED = cnn.FINISHED;
  const config = cnn.plotConfig;

  async function runIds() {
    if (!sweepId) return (new URLSearchParams(location.search).get("ids") || "").split(",").filter(Boolean);
    const r = await cnn.api("GET", `/api/sweeps/${sweepId}`);
    if (!r.ok) return [];
    document.getElementById("compare-title").textContent = `Sweep: ${r.data.name}`;
    document.getElementById("compare-sub").textContent = `grid ${JSON.stringify(r.data.grid)} · owner ${r.data.owner}`;
    return r.data.runs.map((run) => String(run.id));
  }

  function draw(data) {
    const acc = [], loss = [];
    data.forEach((d, i) => {
      const color = cnn.colors[i % cnn.colors.length], label = cnn.plotText(`${d.run.name} (#${d.run.id})`), s = d.series;
      acc.push({ x: s.epoch, y: s.train_acc, name: label + " train", legendgroup: label, line: { color, dash: "dash" }, mode: "lines" });
      acc.push({ x: s.epoch, y: s.test_acc, name: label + " test", legendgroup: label, line: { color }, mode: "lines" });
      loss.push({ x: s.epoch, y: s.train_loss, name: label + " train", legendgroup: label, line: { color, dash: "dash" }, mode: "lines" });
      loss.push({ x: s.epoch, y: s.test_loss, name: label + " test", legendgroup: label, line: { color }, mode: "lines" });
    });
    const longest = Math.max(1, ...data.map((d) => d.series.epoch.length));
    const base = (title, y, pct) => cnn.chartLayout(title, y, { pct, epochs: longest, showlegend: data.length <= 10 });
    Plotly.react("cmp-acc", acc, base("Accuracy (train dashed, test solid)", "accuracy", true), config);
    Plotly.react("cmp-loss", loss, base("Loss (train dashed, test solid)", "loss", false), config);
    const done = data.filter((d) => d.run.best_test_acc !== null);
    const points = (key) => ({ x: done.map((d) => d.run[key]), y: done.map((d) => d.run.best_test_acc), text: done.map((d) => cnn.plotText(d.run.name)),
      mode: "markers+text", textposition: "top center", marker: { size: 10, color: done.map((d) => cnn.colors[data.indexOf(d) % cnn.colors.length]) }, type: "scatter", name: "runs" });
    Plotly.react("cmp-macs", [points("macs")], { title: { text: "Best test accuracy vs MACs" }, xaxis: { title: { text: "MACs" } },
      yaxis: { title: { text: "best test accuracy" }, tickformat: ".0%" }, margin: { t: 40, r: 10, b: 40, l: 55 }, showlegend: false }, config);
    Plotly.react("cmp-params", [points("params")], { title: { text: "Best test accuracy vs parameters" }, xaxis: { title: { text: "parameters" } },
      yaxis: { title: { text: "best test accuracy" }, tickformat: ".0%" }, margin: { t: 40, r: 10, b: 40, l: 55 }, showlegend: false,
      shapes: [{ type: "line", x0: budget, x1: budget, yref: "paper", y0: 0, y1: 1, line: { color: "#b3261e", dash: "dot" } }],
      annotations: [{ x: budget, yref: "paper", y: 1.02, text: `budget ${cnn.int(budget)}`, showarrow: false, font: { color: "#b3261e" } }] }, config);
    const tbody = document.querySelector("#cmp-table tbody");
    tbody.replaceChildren(...data.map((d, i) => {
      const tr = document.createElement("tr"), r = d.run, td = document.createElement("td");
      const swatch = cnn.el("span", "■ ", { "aria-hidden": "true", style: `color:${cnn.colors[i % cnn.colors.length]}` });
      td.append(swatch, cnn.el("a", r.name, { href: `/runs/${r.id}` })); tr.append(td);
      tr.append(cnn.statusCell(r.status));
      for (const v of [cnn.int(r.params), cnn.int(r.macs), cnn.pct(r.best_test_acc), cnn.pct(r.last_train_acc), cnn.minutes(r.train_seconds)]) tr.append(cnn.el("td", v, { class: "num" }));
      return tr;
    }));
    root.dataset.runs = String(data.length);
    root.dataset.points = String(data.reduce((n, d) => n + d.series.epoch.length, 0));
  }

  async function load() {
    const ids = await runIds();
    if (!ids.length) { document.getElementById("compare-sub").textContent = "Pick runs on the Runs page and press Compare."; return true; }
    const r = await cnn.api("GET", "/api/compare?ids=" + ids.join(","));
    if (!r.ok) { document.getElementById("compare-sub").textContent = JSON.stringify(r.data.detail); return true; }
    draw(r.data.data);
    document.body.dataset.ready = "1";
    return r.data.data.every((d) => FINISHED.has(d.run.status));
  }

  (async () => {
    let finished = await load();
    // every 0.5 s while a run is unfinished, so a new epoch shows within a second
    const tick = async () => { if (!finished) { finished = await load(); setTimeout(tick, 500); } };
    setTimeout(tick, 500);
  })();
})();
