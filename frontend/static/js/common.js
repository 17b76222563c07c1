// Shared helpers. User text only ever reaches the page through textContent, never as HTML.
"use strict";
// the element of an id: the one lookup every page script uses
const $ = (id) => document.getElementById(id);
const cnn = {
  // backend.core.statuses.vocabulary(): every enumerated word of the lab (run statuses, finished and
  // active ones, search statuses, trial states, model statuses, checkpoint kinds, roles, selected_on),
  // handed over as JSON on every page's body (the export carries its own)
  get vocabulary() { return cnn._vocabulary || (cnn._vocabulary = JSON.parse(document.body.dataset.vocabulary || "{}")); },
  // the words a script compares with, read from the vocabulary: words("model_statuses", "ready", "failed")
  // returns them, or stops the script at once where the server does not say one (never a silent mismatch)
  words(kind, ...words) {
    const known = cnn.vocabulary[kind] || [];
    for (const w of words) if (!known.includes(w)) throw new Error(`"${w}" is not one of the lab's ${kind}: ${known.join(", ")}`);
    return words;
  },
  word: (kind, w) => cnn.words(kind, w)[0],
  get STATUSES() { return cnn.vocabulary.run_statuses || []; },
  get FINISHED() { return new Set(cnn.vocabulary.finished_run_statuses || []); },
  get ACTIVE() { return new Set(cnn.vocabulary.active_run_statuses || []); },
  // Follows a Server-Sent Event stream, as every live page does: EventSource reconnects by itself
  // (after the server's retry of 1 s, sending Last-Event-ID, so only what was missed comes again).
  // handlers: event name → fn(its data parsed from JSON, the event). live: a node that says
  // "● live" while connected, "reconnecting…" while not. until(): true once the page needs nothing
  // more, asked after every event and on every drop: the stream is then closed, never reopened.
  // Returns { close() }.
  follow(url, handlers, { live = null, until = () => false } = {}) {
    const source = new EventSource(url);
    const say = (text) => { if (live) live.textContent = text; };
    const stream = {
      closed: false,
      close() { stream.closed = true; source.close(); say(""); },
    };
    source.onopen = () => say("● live");
    source.onerror = () => {
      if (until()) stream.close();
      else say(source.readyState === EventSource.CLOSED ? "not live: reload the page" : "reconnecting…");
    };
    for (const [name, handle] of Object.entries(handlers)) {
      source.addEventListener(name, (e) => {
        if (stream.closed) return;
        handle(e.data ? JSON.parse(e.data) : null, e);
        if (until()) stream.close();
      });
    }
    return stream;
  },
  // fn, run one call at a time: a call while one runs asks for one more run after it (so a burst of
  // stream events costs at most two reads, and the last one sees the latest state)
  serial(fn) {
    let busy = false, again = false;
    const run = async () => {
      if (busy) { again = true; return; }
      busy = true;
      try { await fn(); } finally {
        busy = false;
        if (again) { again = false; run(); }
      }
    };
    return run;
  },
  // the signed-in browser's CSRF token (base.html), sent with every request that changes something
  csrf: () => (document.querySelector('meta[name="csrf-token"]') || {}).content || "",
  me: () => ({ username: document.body.dataset.me || null, admin: document.body.dataset.meRole === cnn.word("roles", "admin") }),
  // only the owner of a thing, or an admin, may change it (the backend decides; this hides the buttons)
  mayChange: (owner) => { const me = cnn.me(); return me.admin || (me.username !== null && me.username === owner); },
  when: (iso) => (iso ? new Date(iso).toLocaleString() : "–"),
  async api(method, path, body) {
    const opts = { method, headers: {} };
    if (method !== "GET" && method !== "HEAD" && cnn.csrf()) opts.headers["X-CSRF-Token"] = cnn.csrf();
    if (body !== undefined) { opts.headers["Content-Type"] = "application/json"; opts.body = JSON.stringify(body); }
    const r = await fetch(path, opts);
    let data = null;
    try { data = await r.json(); } catch (e) { data = null; }
    return { ok: r.ok, status: r.status, data };
  },
  el(tag, text, attrs) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    return node;
  },
  int: (n) => (n === null || n === undefined ? "–" : Number(n).toLocaleString("en-US")),
  pct: (x, digits = 1) => (x === null || x === undefined ? "–" : (100 * x).toFixed(digits) + "%"),
  // what chose a run's epoch (RunPublic.selected_on): validation images, or the test set itself
  chosenOn: (on, holdout) => (on === cnn.word("selected_on", "val") ? (holdout ? `chosen on ${cnn.int(holdout)} held-out images` : "chosen on validation") : "chosen on test"),
  // the headline of a run: test accuracy at the chosen epoch ("71.2% (ep 5)"), "–" before any epoch
  headline: (run) => (run.test_acc_at_best_val === null || run.test_acc_at_best_val === undefined ? "–"
    : `${cnn.pct(run.test_acc_at_best_val)} (ep ${run.best_epoch})`),
  // a cell (td) of a run's headline, marked "chosen on test" where the test set chose the epoch
  headlineCell(run) {
    const td = cnn.el("td", cnn.headline(run), { class: "num headline" });
    if (run.selected_on === cnn.word("selected_on", "test") && run.test_acc_at_best_val !== null) {
      td.append(" ", cnn.el("small", "chosen on test", { class: "on-test", title: "no validation split: the test set chose this epoch, so the figure is optimistic" }));
    }
    return td;
  },
  // a group's figure (GroupSummary.figures[…]): "71.2% ± 0.8" (mean ± sample std, in accuracy points)
  spread: (f) => (!f || f.mean === null ? "–" : f.std === null ? cnn.pct(f.mean) : `${cnn.pct(f.mean)} ± ${(100 * f.std).toFixed(1)}`),
  ci: (f) => (!f || f.ci_low === null ? "–" : `${cnn.pct(f.ci_low)} – ${cnn.pct(f.ci_high)}`),
  minutes: (s) => (s === null || s === undefined ? "–" : (s / 60).toFixed(1)),
  duration(s) {
    if (!s) return "–";
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = Math.round(s % 60);
    return (h ? h + "h " : "") + (h || m ? m + "min " : "") + sec + "s";
  },
  // the seed report's log line; a run reading the test set only at its end shows its validation accuracy instead
  seedLine: (m) => `[epoch ${m.epoch}] train accuracy: ${Math.round(m.train_acc * 100)}% ` +
    (m.test_acc === null || m.test_acc === undefined ? `val accuracy: ${Math.round(m.val_acc * 100)}%` : `test accuracy: ${Math.round(m.test_acc * 100)}%`) +
    ` loss: ${m.train_loss.toFixed(3)} duration: ${m.seconds.toFixed(2)}`,
  statusBadge(node, status) { node.textContent = status; node.className = "status " + status; },
  // a table cell holding a run's status badge (runs list, compare, study report)
  statusCell(status) { const td = document.createElement("td"), badge = cnn.el("span"); cnn.statusBadge(badge, status); td.append(badge); return td; },
  // a queued run's place (RunPublic.queue) in words: "3rd in line, starts in about 12 min (2 workers up)";
  // cnnlab_client/watch.py's queue_text writes the same words
  ordinal(n) {
    const teen = n % 100 >= 11 && n % 100 <= 13;
    return n + (teen ? "th" : ({ 1: "st", 2: "nd", 3: "rd" })[n % 10] || "th");
  },
  inAbout: (s) => (s < 30 ? "now" : s < 60 ? "in under a minute" : s < 5400 ? `in about ${Math.round(s / 60)} min` : `in about ${(s / 3600).toFixed(1)} h`),
  queueText(q) {
    const up = `${q.workers_up} worker${q.workers_up === 1 ? "" : "s"} up`;
    return `${cnn.ordinal(q.position)} in line, ` + (q.eta_start_s === null ? `waiting for a worker (${up})` : `starts ${cnn.inAbout(q.eta_start_s)} (${up})`);
  },
  // every chart is drawn by charts.js (cnn.charts: lines, scatter, plot, figure, placeholder)
  layerRows(tbody, rows) {
    tbody.replaceChildren(...rows.map((r, i) => {
      const tr = document.createElement("tr");
      const counted = r.kind === "conv" || r.kind === "fc";
      for (const [text, num] of [[`${i}_${r.name}`], [r.kernel_shape ? JSON.stringify(r.kernel_shape) : "-"], [JSON.stringify(r.output_shape)],
        [r.kind === "pool" || r.kind === "gpool" ? "-" : cnn.int(r.params), 1], [counted ? cnn.int(r.macs) : "-", 1]]) {
        tr.append(cnn.el("td", text, num ? { class: "num" } : {}));
      }
      return tr;
    }));
  },
  // an API answer's errors as [{field, message}]: a 422's list, or one message for the whole form
  errorList: (r) => (r.data && Array.isArray(r.data.detail) ? r.data.detail
    : [{ field: "form", message: r.data && r.data.detail ? String(r.data.detail) : `request failed (${r.status})` }]),
  // The one error display of every page: an API answer's errors shown in `where` (a form, or any
  // part of a page holding a <p class="error" data-error-for="form">).
  // prefix: what the answer's fields lie under in the form ("config." for a part of the config sent
  // alone); scope: as showErrors'
  showApiErrors(where, r, { prefix = "", scope = "" } = {}) {
    cnn.showErrors(where, cnn.errorList(r).map((e) => (prefix && e.field !== "form" ? { ...e, field: prefix + e.field } : e)), scope);
  },
  // A field path in a person's words: "augment.cutout" → "augment cutout", "[2].config.epochs" →
  // "item 3, config epochs", and a network's "stages[0][1]" → "stage 1, layer 2 width" (never the path)
  pathWords(path) {
    const parts = [...String(path).matchAll(/([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]/g)]
      .map((m) => (m[1] !== undefined ? { name: m[1] } : { index: Number(m[2]) }));
    const out = [];
    let words = [];
    const flush = () => { if (words.length) out.push(words.join(" ")); words = []; };
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i], next = parts[i + 1], after = parts[i + 2];
      if (p.name === "stages" && next && next.index !== undefined) {
        flush();
        if (after && after.index !== undefined) { out.push(`stage ${next.index + 1}, layer ${after.index + 1} width`); i += 2; }
        else { out.push(`stage ${next.index + 1}`); i += 1; }
      } else if (p.name !== undefined) words.push(p.name.replace(/_/g, " "));
      else { flush(); out.push(`item ${p.index + 1}`); }
    }
    flush();
    return out.join(", ");
  },
  capital: (s) => (s ? s[0].toUpperCase() + s.slice(1) : s),
  // what a person reads as an input's name: a script's data-label, else its <label> or <legend>
  // without the small print (units, hints), else its aria-label, else its field in words
  fieldLabel(input) {
    if (input.dataset.label) return input.dataset.label;
    const text = (node) => {
      if (!node) return "";
      const copy = node.cloneNode(true);
      copy.querySelectorAll("small, input, select, textarea, button").forEach((n) => n.remove());
      return copy.textContent.replace(/\s+/g, " ").trim();
    };
    const label = (input.id && document.querySelector(`label[for="${CSS.escape(input.id)}"]`)) || input.closest("label");
    return text(label) || (input.tagName === "FIELDSET" && text(input.querySelector(":scope > legend")))
      || input.getAttribute("aria-label") || cnn.capital(cnn.pathWords(input.dataset.field || ""));
  },
  // an error's field in words: the input's label, and where inside it the error points (rest: what
  // of the field's path lies below the input's); a field no input shows: its path in words
  errorWhere(field, input, rest) {
    if (!input) return cnn.capital(cnn.pathWords(String(field).replace(/^(config|body)(\.|$)/, "")));
    const label = cnn.fieldLabel(input);
    if (!rest) return label;
    if (input.dataset.kind === "stages") return cnn.capital(cnn.pathWords("stages" + rest));
    return `${label}, ${cnn.pathWords(rest)}`;
  },
  // errors → messages next to the elements whose data-field matches (or the nearest parent field),
  // each named by the input's label, never by the API's path ("Stage 1, layer 2 width: …"); the rest
  // in where's [data-error-for="form"]; showErrors(where, []) clears them.
  // scope: clear only the messages of fields under it (the architecture's size check must not wipe a
  // refusal of the submit that arrived meanwhile)
  showErrors(form, detail, scope = "") {
    const inScope = (field) => !scope || field === scope || field.startsWith(scope + ".") || field.startsWith(scope + "[");
    form.querySelectorAll("[data-error-for]").forEach((n) => {
      if (!inScope(n.dataset.errorFor)) return;
      if (n.dataset.dynamic) n.remove(); else n.textContent = "";
    });
    form.querySelectorAll("[aria-invalid]").forEach((n) => {
      if (!inScope(n.dataset.field || "")) return;
      n.removeAttribute("aria-invalid");
      if ("describedBy" in n.dataset) { // the help text it had before the error
        if (n.dataset.describedBy) n.setAttribute("aria-describedby", n.dataset.describedBy); else n.removeAttribute("aria-describedby");
      }
    });
    for (const err of detail || []) {
      let field = err.field || "", input = null;
      while (field && !(input = form.querySelector(`[data-field="${CSS.escape(field)}"]`))) {
        const parent = /\[\d+\]$/.test(field) ? field.replace(/\[\d+\]$/, "")
          : field.includes(".") ? field.slice(0, field.lastIndexOf(".")) : "";
        if (parent === field) break;
        field = parent;
      }
      const general = !err.field || err.field === "form" || err.field === "body";
      const where = general ? "" : cnn.errorWhere(err.field, input, input ? err.field.slice(field.length) : "");
      const text = where ? `${where}: ${err.message}` : err.message;
      const shown = input && !input.closest("[hidden]"); // an input of another network family is not on screen
      if (shown) {
        const folded = input.closest("details");
        if (folded) folded.open = true; // an Advanced option's refusal is never folded away
        input.setAttribute("aria-invalid", "true");
        const msg = cnn.el("p", text, { class: "error", "data-error-for": err.field, "data-dynamic": "1", role: "alert" });
        msg.id = "err-" + err.field.replace(/[^a-z0-9]/gi, "-");
        if (!("describedBy" in input.dataset)) input.dataset.describedBy = input.getAttribute("aria-describedby") || "";
        input.setAttribute("aria-describedby", `${input.dataset.describedBy} ${msg.id}`.trim());
        (input.closest(".field") || input.parentElement).append(msg);
      } else {
        let box = form.querySelector('[data-error-for="form"]');
        if (!box) box = form.appendChild(cnn.el("p", null, { class: "error", "data-error-for": "form", role: "alert" }));
        box.textContent = (box.textContent ? box.textContent + " " : "") + text;
      }
    }
  },
  // A finished run's class report (GET /api/runs/{id}/evaluation): confusion heatmap, accuracy per
  // class, gallery of misclassified test images. Used by the run page and the study report.
  classReport(confusion, perClass, gallery, e) {
    const names = e.classes, labels = names.map(cnn.plotText);
    const blue = cnn.charts.color(0);  // from the background (none) to the palette's blue (many)
    cnn.charts.plot(confusion, [{ type: "heatmap", z: e.confusion, x: labels, y: labels, hoverongaps: false,
      colorscale: [[0, cnn.charts.alpha(blue, 0.03)], [0.15, cnn.charts.alpha(blue, 0.35)], [1, blue]],
      hovertemplate: "true %{y}, predicted %{x}: %{z}<extra></extra>" }],
    { title: { text: "Confusion matrix" }, xaxis: { title: { text: "predicted" }, showline: false }, yaxis: { title: { text: "true" }, autorange: "reversed", showline: false },
      margin: { b: 70, l: 80 } });
    cnn.charts.plot(perClass, [{ type: "bar", x: labels, y: e.per_class_acc, marker: { color: cnn.charts.color(0) }, hovertemplate: "%{x}: %{y:.1%}<extra></extra>" }],
      { title: { text: "Test accuracy per class" }, yaxis: { ...cnn.charts.pctAxis([], { full: true }), title: { text: "accuracy" } }, margin: { b: 70 } });
    gallery.replaceChildren(...e.misclassified.map((m) => {
      const fig = document.createElement("figure");
      fig.append(cnn.el("img", null, { src: "data:image/png;base64," + m.png, alt: `test image ${m.index}: ${names[m.true]} taken for ${names[m.pred]}` }),
        cnn.el("figcaption", `${names[m.true]} → ${names[m.pred]}`));
      return fig;
    }));
  },
  // A button that copies the text of the element `source` (a token shown once): the Clipboard API
  // where the page may use it (https, or this machine), else the selection's copy; says how it went.
  copyButton(button, source) {
    const label = button.textContent;
    button.addEventListener("click", async () => {
      const text = source.textContent;
      let ok = false;
      try { await navigator.clipboard.writeText(text); ok = true; } catch (e) {
        const range = document.createRange();
        range.selectNodeContents(source);
        const sel = window.getSelection();
        sel.removeAllRanges(); sel.addRange(range);
        try { ok = document.execCommand("copy"); } catch (e2) { ok = false; }
      }
      button.textContent = ok ? "Copied" : "Select it and copy (Ctrl+C)";
      button.dataset.copied = ok ? "1" : "0";
      setTimeout(() => { button.textContent = label; }, 2000);
    });
  },
  // Plotly renders a little HTML in trace names, labels and text: user text goes through this first
  plotText: (s) => String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;"),
  colors: ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22"],
};

// Browser notifications, asked for on the Account page (the choice kept in this browser's
// localStorage): every page of a signed-in member then follows GET /api/me/events and shows a
// Notification when a run or search of theirs ends — once: its tag is the event's id, so several
// open tabs replace rather than stack it, and the ids shown are remembered (a page opened later,
// which asks for what ended since the last one shown, does not show them again).
cnn.notify = {
  KEY: "cnnlab.notify", SINCE: "cnnlab.notify.since", SHOWN: "cnnlab.notify.shown",
  stream: null,
  supported: () => "Notification" in window,
  wanted: () => localStorage.getItem(cnn.notify.KEY) === "on",
  active: () => cnn.notify.supported() && cnn.notify.wanted() && Notification.permission === "granted",
  enable() { localStorage.setItem(cnn.notify.KEY, "on"); cnn.notify.start(); },
  disable() { localStorage.removeItem(cnn.notify.KEY); localStorage.removeItem(cnn.notify.SINCE); cnn.notify.stop(); },
  // the stream's moment (its hello, the last notice shown): a page opened later asks from there, on the server's clock
  seen(at) {
    const since = localStorage.getItem(cnn.notify.SINCE);
    if (!since || new Date(since) < new Date(at)) localStorage.setItem(cnn.notify.SINCE, at);
  },
  shown() { try { return JSON.parse(localStorage.getItem(cnn.notify.SHOWN) || "[]"); } catch (e) { return []; } },
  show(n) {
    const shown = cnn.notify.shown();
    if (!n || shown.includes(n.id)) return;
    localStorage.setItem(cnn.notify.SHOWN, JSON.stringify([...shown, n.id].slice(-200)));
    cnn.notify.seen(n.at);
    const accuracy = n.accuracy === null || n.accuracy === undefined ? "no accuracy recorded" : `test accuracy ${cnn.pct(n.accuracy)}`;
    const note = new Notification(`${n.name}: ${n.status}`, { body: `${n.kind === "search" ? "Search" : "Run"} ${n.object_id} · ${accuracy}`, tag: n.id });
    note.onclick = () => { window.focus(); window.open(n.url, "_blank"); note.close(); };
  },
  start() {
    if (cnn.notify.stream || !document.body.dataset.me || !cnn.notify.active()) return;
    const since = localStorage.getItem(cnn.notify.SINCE);
    cnn.notify.stream = cnn.follow("/api/me/events" + (since ? "?since=" + encodeURIComponent(since) : ""), {
      hello: (h) => { if (h && h.since) cnn.notify.seen(h.since); },
      notice: (n) => cnn.notify.show(n),
    });
  },
  stop() { if (cnn.notify.stream) { cnn.notify.stream.close(); cnn.notify.stream = null; } },
};
document.addEventListener("DOMContentLoaded", () => cnn.notify.start());
