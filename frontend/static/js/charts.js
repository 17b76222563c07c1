"use strict";
// The one chart module of every page (run, compare and sweep, study report and its export, search):
// every Plotly chart is drawn through it, so they share the page's colours and font (read from the
// CSS custom properties, so dark mode is followed, redrawn when it changes), percent axes for
// accuracies whose range and ticks come from the data (never −100%..400%, never "11%, 11%"), whole
// epochs on x, markers where a series has few points, readable sizes (16.3M, 245k), legends below
// the plot that do not eat it, and a placeholder (.chart-placeholder) wherever a chart has no data.
//
//   cnn.charts.lines(el, traces, opts)    curves over epochs (or any whole-number x)
//   cnn.charts.scatter(el, traces, opts)  points against a size (params, MACs), accuracy on y
//   cnn.charts.plot(el, traces, layout)   anything else (class report), themed
//   cnn.charts.figure(el, fig, opts)      a figure built by the server (search page), themed
//   cnn.charts.placeholder(el, text)      no chart: a message where it will be
//   cnn.charts.si(n), pctAxis(values), intAxis(lo, hi), alpha(color, a)
// Traces are Plotly's; user text in them must have gone through cnn.plotText.
cnn.charts = (() => {
  const FEW = 3; // a series of this many points or fewer shows its markers (one point drawn as a line is nothing)
  const NARROW = 520; // px: below it fewer ticks, smaller margins, no point labels
  const LEGEND_NAME = 32; // characters of a legend entry; the hover keeps the whole name
  const DARK = window.matchMedia ? window.matchMedia("(prefers-color-scheme: dark)") : null;
  const finite = (v) => typeof v === "number" && Number.isFinite(v);
  const node = (el) => (typeof el === "string" ? document.getElementById(el) : el);
  const round6 = (x) => Math.round(x * 1e6) / 1e6;

  function cssVar(name, fallback) {
    const v = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
    return v || fallback;
  }
  // the page's colours and font, read on every draw (dark mode changes them)
  function theme() {
    const dark = Boolean(DARK && DARK.matches);
    const line = cssVar("--line", dark ? "#3a424a" : "#d5dbe1");
    return {
      fg: cssVar("--fg", dark ? "#e3e7eb" : "#1b1f24"), muted: cssVar("--muted", dark ? "#a7b1bb" : "#4a5560"),
      bg: cssVar("--bg", dark ? "#15181b" : "#fff"), line, grid: cssVar("--grid", alpha(line, 0.6)),
      accent: cssVar("--accent", dark ? "#6ea8fe" : "#0b5cad"), bad: cssVar("--bad", dark ? "#f28b82" : "#b3261e"),
      ok: cssVar("--ok", dark ? "#81c995" : "#1d6b36"),
      font: (document.body && getComputedStyle(document.body).fontFamily) || "system-ui, sans-serif",
    };
  }
  // a colour with opacity a: "#1f77b4" → "rgba(31,119,180,a)"; other notations are returned as they are
  function alpha(color, a) {
    const hex = /^#([0-9a-f]{3}|[0-9a-f]{6})$/i.exec(String(color).trim());
    if (!hex) return color;
    const h = hex[1].length === 3 ? hex[1].replace(/./g, "$&$&") : hex[1];
    return `rgba(${parseInt(h.slice(0, 2), 16)},${parseInt(h.slice(2, 4), 16)},${parseInt(h.slice(4, 6), 16)},${a})`;
  }
  const palette = () => cnn.colors;
  // on a dark background the palette's colours (cnn.colors, and the server's figures use the same) are
  // drawn 35% lighter, so every line keeps its contrast; the page's own colours come from its CSS
  function rgb(color) {
    const m = /^rgba?\((\d+),\s*(\d+),\s*(\d+)/.exec(alpha(color, 1));
    return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : null;
  }
  function isDark() {
    const bg = rgb(cssVar("--bg", ""));
    return bg ? (0.2126 * bg[0] + 0.7152 * bg[1] + 0.0722 * bg[2]) / 255 < 0.4 : Boolean(DARK && DARK.matches);
  }
  function tone(c) {
    if (typeof c !== "string" || !palette().includes(c) || !isDark()) return c;
    const [r, g, b] = rgb(c);
    const up = (v) => Math.round(v + (255 - v) * 0.35).toString(16).padStart(2, "0");
    return `#${up(r)}${up(g)}${up(b)}`;
  }
  const toneAll = (c) => (Array.isArray(c) ? c.map(tone) : tone(c));
  // a trace's palette colours, toned for the background
  function toned(tr) {
    const out = { ...tr };
    if (out.line && out.line.color !== undefined) out.line = { ...out.line, color: toneAll(out.line.color) };
    if (out.marker && out.marker.color !== undefined) out.marker = { ...out.marker, color: toneAll(out.marker.color) };
    return out;
  }
  const color = (i) => tone(palette()[i % palette().length]);

  // a count as people read it: 16.3M, 245k, 1.77k, 950 (three significant digits, as the axes' ".3~s")
  function si(n) {
    if (n === null || n === undefined || !finite(Number(n))) return "–";
    n = Number(n);
    const a = Math.abs(n);
    const [div, unit] = a >= 1e9 ? [1e9, "G"] : a >= 1e6 ? [1e6, "M"] : a >= 1e3 ? [1e3, "k"] : [1, ""];
    const v = n / div, av = Math.abs(v);
    let s = av >= 100 ? v.toFixed(0) : av >= 10 ? v.toFixed(1) : v.toFixed(2);
    if (s.includes(".")) s = s.replace(/0+$/, "").replace(/\.$/, "");
    if (Math.abs(Number(s)) >= 1000 && unit !== "G") return si(Math.sign(n) * 1000 * div); // 999.6k → 1M
    return s + unit;
  }

  // A percent axis (values are fractions) from the values it shows: padded, at least minSpan wide,
  // never outside 0–100%, its step chosen from the range so no two ticks read the same; full: 0–100%.
  // backend/searches/figures.py's percent_axis is the same rule (a browser test holds them together).
  const PCT_STEPS = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2];
  function pctAxis(values, { full = false, minSpan = 0.04, pad = 0.05, ticks = 6 } = {}) {
    const ys = (values || []).filter(finite);
    let lo = 0, hi = 1;
    if (!full && ys.length) {
      lo = Math.min(...ys); hi = Math.max(...ys);
      const grow = Math.max(0, minSpan - (hi - lo)) / 2 + pad * Math.max(hi - lo, minSpan);
      lo -= grow; hi += grow;
    }
    const dtick = PCT_STEPS.find((s) => (hi - lo) / s <= ticks + 1e-9) || 0.2;
    lo = Math.max(0, Math.floor(lo / dtick + 1e-9) * dtick);
    hi = Math.min(1, Math.ceil(hi / dtick - 1e-9) * dtick);
    return { range: [round6(lo), round6(hi)], autorange: false, tick0: 0, dtick, tickformat: dtick < 0.01 ? ".1%" : ".0%",
      hoverformat: ".1%" };
  }

  // a whole-number axis (epochs, trial numbers) from lo to hi: a step of 1, 2, 5, 10… that never
  // repeats a label, and room at both ends so the end markers show
  const INT_STEPS = [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000];
  function intAxis(lo, hi, { ticks = 10 } = {}) {
    if (!finite(lo) || !finite(hi) || hi < lo) { lo = 1; hi = 1; }
    const span = hi - lo;
    const dtick = INT_STEPS.find((s) => span / s <= ticks) || Math.ceil(span / ticks);
    const pad = Math.max(0.5, 0.02 * span);
    return { range: [lo - pad, hi + pad], autorange: false, tick0: 0, dtick, tickformat: "d", hoverformat: "d" };
  }

  // a time axis (seconds of training, the wall-clock option of the run page): from the first value to
  // the last with a little room, thousands grouped
  function secondsAxis(values, { ticks = 8 } = {}) {
    const xs = (values || []).filter(finite);
    const lo = xs.length ? Math.min(0, ...xs) : 0, hi = xs.length ? Math.max(...xs) : 1;
    const pad = Math.max(0.5, 0.03 * (hi - lo));
    return { range: [lo - pad, hi + pad], autorange: false, nticks: ticks, tickformat: ",.0f", hoverformat: ",.1f" };
  }

  // a size axis (params, MACs) from 0 to a little past the largest value: 0, 5M, 10M, 15M
  function siAxis(values, { narrow = false } = {}) {
    const xs = (values || []).filter(finite);
    if (!xs.length) return { range: [0, 1], autorange: false, showticklabels: false };
    const hi = Math.max(...xs);
    return { range: [0, hi > 0 ? hi * 1.08 : 1], autorange: false, tickformat: ".3~s", hoverformat: ",d", nticks: narrow ? 4 : 7, rangemode: "tozero" };
  }

  // a name shortened in its middle, where names of a sweep or a series are alike ("browser sw…size=16
  // (#10)"); an entity such as &amp; is never cut in two
  function shorten(name, n = LEGEND_NAME) {
    const s = String(name ?? "");
    if (s.length <= n) return s;
    const head = Math.ceil((n - 1) * 0.4), tail = n - 1 - head;
    return s.slice(0, head).replace(/&[#a-z0-9]*$/i, "").trimEnd() + "…" + s.slice(s.length - tail).replace(/^[#a-z0-9]*;/i, "").trimStart();
  }

  function axisStyle(t, extra = {}) {
    return { gridcolor: t.grid, linecolor: t.line, zerolinecolor: t.line, tickcolor: t.line, showline: true,
      automargin: true, ...extra, title: { standoff: 8, ...(extra.title || {}), font: { color: t.muted, size: 12 } } };
  }

  // what every chart's layout shares: colours, font, title (and its key as a subtitle), margins, legend
  function baseLayout(el, t, opts, entries) {
    const width = el.clientWidth || 600, narrow = width < NARROW;
    const title = opts.title ? { text: opts.title, x: 0, xref: "paper", xanchor: "left", font: { size: narrow ? 13 : 15, color: t.fg } } : { text: "" };
    if (opts.title && opts.subtitle) title.subtitle = { text: opts.subtitle, font: { size: 11, color: t.muted } };
    const showlegend = opts.legend !== false && entries.length > 0 && entries.length <= (opts.maxLegend || 12);
    // the legend below the plot, left-aligned: the chart grows by its rows and the bottom margin
    // holds them, so the plot keeps its height whatever the legend
    const rows = showlegend ? legendRows(entries, width, narrow ? 10 : 11) : 0;
    const legendPx = rows ? rows * 19 + 8 : 0;
    const top = opts.title ? (opts.subtitle ? 64 : 40) : 12;
    const height = (opts.height || baseHeight(el)) + legendPx;
    return {
      narrow, layout: {
        font: { family: t.font, color: t.fg, size: narrow ? 11 : 12 }, paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)",
        colorway: palette(), title, height, autosize: true, showlegend,
        margin: { t: top, r: narrow ? 8 : 14, b: 44 + legendPx, l: narrow ? 44 : 56, pad: 0 },
        legend: { orientation: "h", x: 0, xanchor: "left", y: 0, yref: "container", yanchor: "bottom", bgcolor: "rgba(0,0,0,0)",
          font: { size: narrow ? 10 : 11, color: t.fg }, itemsizing: "constant", tracegroupgap: 0 },
        hoverlabel: { font: { family: t.font } }, hovermode: "closest",
      },
    };
  }
  // how many rows a horizontal legend of these names takes in width px (Plotly packs entries left to
  // right: the symbol, the name, a gap; a character about 0.6 of the font size)
  function legendRows(names, width, font) {
    const plain = (n) => String(n).replace(/<[^>]*>/g, "").replace(/&[#a-z0-9]+;/gi, "x");
    let rows = 1, used = 0;
    for (const name of names) {
      const w = 48 + 0.62 * font * plain(name).length;
      if (used && used + w > width - 16) { rows += 1; used = 0; }
      used += w;
    }
    return rows;
  }
  // the height a chart's box asks for (its CSS min-height), read once before Plotly fills it
  function baseHeight(el) {
    if (!el.dataset.chartHeight) {
      const h = el.clientHeight || parseFloat(getComputedStyle(el).minHeight) || 0;
      if (h > 0) el.dataset.chartHeight = String(Math.round(h));
    }
    return Number(el.dataset.chartHeight || 340);
  }

  // vertical marks (the chosen epoch, the onset of overfitting, the budget): a dotted line and its
  // label inside the plot's top, on the side with room; tone names a theme colour
  function markLayout(marks, t, xaxis) {
    const shapes = [], annotations = [];
    const [lo, hi] = xaxis.range || [0, 1];
    (marks || []).filter((m) => m && finite(m.x)).forEach((m, i) => {
      const c = t[m.tone] || m.color || t.muted;
      shapes.push({ type: "line", x0: m.x, x1: m.x, yref: "paper", y0: 0, y1: 1, line: { color: c, dash: "dot", width: m.width || 2 } });
      if (m.label) {
        const right = m.x > lo + 0.6 * (hi - lo);
        annotations.push({ x: m.x, yref: "paper", y: 1 - 0.075 * i, yanchor: "top", xanchor: right ? "right" : "left", xshift: right ? -3 : 3,
          text: m.label, showarrow: false, font: { color: c, size: 11 }, bgcolor: alpha(t.bg, 0.75) });
      }
    });
    return { shapes, annotations };
  }

  // what was drawn last on each chart, to draw it again when the colour scheme changes
  const drawn = new Map();
  if (DARK && DARK.addEventListener) {
    DARK.addEventListener("change", () => {
      for (const [el, again] of drawn) { if (el.isConnected) again(); else drawn.delete(el); }
    });
  }
  const config = { responsive: true, displaylogo: false };

  function draw(el, traces, layout) {
    if (!window.Plotly) return;
    el.classList.add("chart-drawn");
    Plotly.react(el, traces, layout, config);
  }

  function placeholder(el, text, { keepPlot = false } = {}) {
    el = node(el);
    if (!el) return;
    if (!keepPlot && window.Plotly && el._fullLayout) { Plotly.purge(el); el.classList.remove("chart-drawn"); }
    let p = [...el.children].find((c) => c.classList.contains("chart-placeholder"));
    if (!p) {
      p = cnn.el("div", null, { class: "chart-placeholder", role: "status" });
      el.append(p);
    }
    p.textContent = text || "Nothing to draw yet.";
    el.classList.add("chart-empty");
    if (getComputedStyle(el).position === "static") el.style.position = "relative";
    if (!keepPlot) drawn.delete(el);
  }
  function clearPlaceholder(el) {
    el.classList.remove("chart-empty");
    for (const c of [...el.children]) if (c.classList.contains("chart-placeholder")) c.remove();
  }

  // a line trace made readable: markers where it has few points (a zero-size marker grown), the
  // legend's name shortened; a band's edge (line width 0) is left alone
  function lineTrace(tr, i) {
    const out = { type: "scatter", mode: "lines", ...tr };
    if (!out.line || out.line.color === undefined) out.line = { ...(out.line || {}), color: color(i) };
    const points = (out.y || []).filter(finite).length;
    if (points && points <= FEW && out.line.width !== 0 && !out.mode.includes("markers")) out.mode += "+markers";
    if (out.mode.includes("markers") && points <= FEW) {
      const size = out.marker && out.marker.size;
      out.marker = { ...(out.marker || {}), size: Array.isArray(size) ? size.map((s) => s || 8) : size || 8 };
      if (out.marker.symbol === "circle-open" && Array.isArray(size)) {
        out.marker.symbol = size.map((s) => (s ? "circle-open" : "circle"));
      }
    }
    if (out.showlegend !== false && out.name !== undefined) out.name = shorten(out.name);
    return toned(out);
  }
  // the names the legend shows: one per legend group
  function legendEntries(traces) {
    const seen = new Map();
    for (const t of traces) if (t.showlegend !== false && t.name !== undefined && !seen.has(t.legendgroup || t.name)) seen.set(t.legendgroup || t.name, t.name);
    return [...seen.values()];
  }

  // Curves over epochs. traces: Plotly line traces (x: epochs). opts: title, subtitle (the key to
  // the line styles), ytitle, pct (accuracy: a percent axis from the data), xtitle ("epoch"),
  // epochs (the planned count, the x axis while nothing is drawn), marks [{x, label, tone}], empty
  // (the placeholder's text), height, legend (false: none), yValues (more values the y axis must hold),
  // xseconds (x is seconds, not whole epochs: a continuous axis), ylog (a logarithmic y axis)
  function lines(el, traces, opts = {}) {
    el = node(el);
    if (!el) return;
    const t = theme();
    const shown = traces.map(lineTrace);
    const ys = [...shown.flatMap((tr) => tr.y || []), ...(opts.yValues || [])].filter(finite);
    const xs = shown.flatMap((tr) => (tr.y || []).map((y, i) => (finite(y) ? tr.x[i] : null))).filter(finite);
    const empty = ys.length === 0;
    const { narrow, layout } = baseLayout(el, t, opts, legendEntries(shown));
    const xaxis = axisStyle(t, { title: { text: opts.xtitle ?? "epoch" }, ...(opts.xseconds ? secondsAxis(xs, { ticks: narrow ? 5 : 8 })
      : intAxis(xs.length ? Math.min(...xs) : 1, xs.length ? Math.max(...xs) : Math.max(1, opts.epochs || 1), { ticks: narrow ? 6 : 10 })) });
    let yaxis;
    if (opts.pct) yaxis = pctAxis(ys, { full: empty });
    else if (empty) yaxis = { range: [0, 1], autorange: false, showticklabels: false };
    else if (opts.ylog) yaxis = { type: "log", autorange: true, nticks: narrow ? 5 : 8, hoverformat: ".4g" };
    else yaxis = { autorange: true, rangemode: opts.yZero ? "tozero" : "normal", nticks: narrow ? 5 : 8, hoverformat: ".3f" };
    layout.xaxis = xaxis;
    layout.yaxis = axisStyle(t, { title: { text: opts.ytitle || "" }, ...yaxis });
    const marks = markLayout(opts.marks, t, xaxis);
    layout.shapes = [...marks.shapes, ...(opts.shapes || [])];
    layout.annotations = [...marks.annotations, ...(opts.annotations || [])];
    draw(el, shown, { ...layout, ...(opts.layout || {}) });
    if (empty) placeholder(el, opts.empty || "Waiting for the first epoch…", { keepPlot: true }); else clearPlaceholder(el);
    drawn.set(el, () => lines(el, traces, opts));
  }

  // Points against a size. traces: Plotly scatter traces (x: params or MACs, y: accuracy), error
  // bars allowed. opts: title, subtitle, xtitle, ytitle, si (x is a count: 0 to the largest, read
  // 16.3M), pct (y is an accuracy), xValues (more x the axis must hold: the budget), marks, empty, height
  function scatter(el, traces, opts = {}) {
    el = node(el);
    if (!el) return;
    const t = theme();
    const w = el.clientWidth || 600, narrow = w < NARROW;
    const allX = [...(opts.xValues || []), ...traces.flatMap((tr) => (tr.x || []))].filter(finite);
    const xaxis = opts.si ? siAxis(allX, { narrow }) : { autorange: true };
    const labelled = traces.reduce((n, tr) => n + ((tr.mode || "").includes("text") ? (tr.x || []).length : 0), 0);
    const taken = new Set();
    const shown = traces.map((tr, i) => {
      const out = { type: "scatter", mode: "markers", cliponaxis: false, ...tr };
      // point labels where they can be read: not on a narrow screen, not over 8 points, one per spot,
      // and leaning inwards at the axis' ends so they stay inside the chart
      if (narrow || labelled > 8) out.mode = out.mode.replace("+text", "").replace("text+", "");
      if (out.mode.includes("text") && Array.isArray(out.text)) {
        const [lo, hi] = xaxis.range || [Math.min(...allX), Math.max(...allX)];
        out.text = out.text.map((label, j) => {
          const spot = `${Math.round(40 * ((out.x[j] - lo) / ((hi - lo) || 1)))}:${Math.round(200 * (out.y[j] || 0))}`;
          if (taken.has(spot)) return "";
          taken.add(spot);
          return shorten(label, 24);
        });
        out.textposition = out.x.map((x) => { const f = (x - lo) / ((hi - lo) || 1); return f > 0.7 ? "top left" : f < 0.3 ? "top right" : "top center"; });
      }
      if (out.mode.includes("text")) out.textfont = { size: 10, color: t.muted, ...(out.textfont || {}) };
      if (!out.marker || out.marker.color === undefined) out.marker = { ...(out.marker || {}), color: color(i) };
      if (out.error_y && out.error_y.color === undefined) out.error_y = { ...out.error_y, color: t.muted };
      if (out.showlegend !== false && out.name !== undefined) out.name = shorten(out.name);
      return toned(out);
    });
    const ys = [];
    for (const tr of shown) {
      (tr.y || []).forEach((y, i) => {
        if (!finite(y)) return;
        ys.push(y);
        const e = tr.error_y;
        if (e && e.visible !== false && e.array) { ys.push(y + (e.array[i] || 0), y - ((e.arrayminus || e.array)[i] || 0)); }
      });
    }
    const empty = !shown.some((tr) => (tr.y || []).some(finite));
    const { layout } = baseLayout(el, t, { ...opts, legend: opts.legend ?? false }, legendEntries(shown));
    const labels = shown.some((tr) => tr.mode.includes("text"));
    layout.xaxis = axisStyle(t, { title: { text: opts.xtitle || "" }, ...xaxis });
    // room above the top point for its label
    const yaxis = opts.pct ? pctAxis(ys, { full: empty, pad: labels ? 0.15 : 0.06 }) : { autorange: true };
    layout.yaxis = axisStyle(t, { title: { text: opts.ytitle || "" }, ...yaxis });
    const marks = markLayout(opts.marks, t, layout.xaxis);
    layout.shapes = [...marks.shapes, ...(opts.shapes || [])];
    layout.annotations = [...marks.annotations, ...(opts.annotations || [])];
    draw(el, shown, { ...layout, ...(opts.layout || {}) });
    if (empty) placeholder(el, opts.empty || "No finished run yet.", { keepPlot: true }); else clearPlaceholder(el);
    drawn.set(el, () => scatter(el, traces, opts));
  }

  // anything else, themed: the layout's axes get the page's colours (the class report's heatmap and bars)
  function plot(el, traces, layout = {}) {
    el = node(el);
    if (!el) return;
    const t = theme();
    const title = layout.title && layout.title.text;
    const { layout: base } = baseLayout(el, t, { title, legend: false, height: layout.height }, []);
    const out = { ...base, ...layout, title: { ...(layout.title || {}), ...base.title } };
    out.margin = { ...base.margin, ...(layout.margin || {}) };
    for (const key of Object.keys(out)) if (/^[xy]axis\d*$/.test(key)) out[key] = axisStyle(t, out[key]);
    draw(el, traces.map(toned), out);
    clearPlaceholder(el);
    drawn.set(el, () => plot(el, traces, layout));
  }

  // a figure the server built (Plotly JSON: backend/searches/figures.py sets the percent and size
  // axes), drawn with the page's colours, font and legend
  function figure(el, fig, opts = {}) {
    el = node(el);
    if (!el) return;
    if (!fig) { placeholder(el, opts.empty); return; }
    const t = theme();
    const src = fig.layout || {};
    const title = src.title && typeof src.title === "object" ? src.title.text : src.title;
    const entries = legendEntries((fig.data || []).filter((d) => d.type === undefined || d.type === "scatter" || d.type === "bar"));
    // a key of one entry tells nothing there (the title names it)
    const { layout: base } = baseLayout(el, t, { title, subtitle: opts.subtitle, height: opts.height,
      legend: src.showlegend === false || entries.length < 2 ? false : undefined }, entries);
    const layout = { ...src, ...base, margin: { ...base.margin, ...(opts.margin || {}) }, shapes: src.shapes, annotations: (src.annotations || []).map((a) => ({ ...a, font: { ...(a.font || {}), color: (a.font && a.font.color) || t.fg } })) };
    delete layout.template;
    for (const key of Object.keys(src)) {  // the server's axes, in the page's colours (their ranges and formats kept)
      if (/^[xy]axis\d*$/.test(key)) {
        const a = src[key];
        layout[key] = { automargin: true, ...a, gridcolor: t.grid, linecolor: t.line, zerolinecolor: t.line, tickcolor: t.line,
          title: { ...(a.title || {}), font: { color: t.muted, size: 12 } } };
      }
    }
    const data = (fig.data || []).map((d) => {
      if (d.type === "parcoords") {
        return { ...d, labelfont: { color: t.fg, size: 11 }, tickfont: { color: t.fg, size: 10 }, rangefont: { color: t.muted, size: 9 },
          line: { ...d.line, colorbar: { ...((d.line || {}).colorbar || {}), tickfont: { color: t.fg }, title: { ...(((d.line || {}).colorbar || {}).title || {}), font: { color: t.fg } } } } };
      }
      if (d.marker && d.marker.colorbar) {
        return { ...d, marker: { ...d.marker, colorbar: { ...d.marker.colorbar, tickfont: { color: t.fg }, title: { ...(d.marker.colorbar.title || {}), font: { color: t.fg } } } } };
      }
      return toned(d);
    });
    draw(el, data, layout);
    clearPlaceholder(el);
    drawn.set(el, () => figure(el, fig, opts));
  }

  return { lines, scatter, plot, figure, placeholder, si, pctAxis, intAxis, siAxis, secondsAxis, alpha, color, shorten, theme, config };
})();
