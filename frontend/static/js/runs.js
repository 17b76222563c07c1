"use strict";
// The run list: the query, filters, chosen columns, sort and page live in the URL (a view is a link:
// /?q=tag:baseline lr>0.1&columns=lr,augment.cutout&sort=-lr); rows follow one event stream of the
// queued and running runs (status, epochs, progress inside the epoch) instead of polling.
// The headline column is the test accuracy of the epoch the validation split chose (sortable); the
// best test accuracy over epochs is shown for reference only, labelled "chosen on test", never sorted.
// With "Fold groups" on, the runs of one group of repeats on this page fold into one row: n and the
// mean ± std over its finished runs (GET /api/groups), expandable to its runs.
// Saved views (GET/POST/DELETE /api/views) are the caller's own: a name for a query, columns and sort.
(() => {
  const PAGE = 50;
  const RUNNING = cnn.word("run_statuses", "running"), ON_TEST = cnn.word("selected_on", "test");
  const tbody = document.querySelector("#runs tbody");
  const headRow = document.querySelector("#runs thead tr");
  const form = document.getElementById("filters");
  const compareBtn = document.getElementById("compare");
  const studyBtn = document.getElementById("save-study");
  const foldBox = document.getElementById("fold");
  const chooser = document.getElementById("columns-chooser");
  const choices = new Map(JSON.parse(chooser.dataset.choices).map((c) => [c.name, c]));
  const maxColumns = Number(chooser.dataset.max);
  const viewForm = document.getElementById("save-view");
  const selected = new Set(), selectedGroups = new Set(), expanded = new Set();
  let groups = new Map(); // group id → GroupPublic, of the groups on this page
  const params = () => new URLSearchParams(location.search);
  const folding = () => params().get("fold") !== "0";
  const chosen = () => (params().get("columns") || "").split(",").map((c) => c.trim()).filter(Boolean);
  const pickChanged = () => { compareBtn.disabled = studyBtn.disabled = selected.size + selectedGroups.size < 1; };
  const FILTERS = ["q", "status", "owner", "sweep", "group"];

  // the URL's state → the form, the sort buttons, the chosen columns' headers and chips
  function syncForm() {
    const p = params();
    for (const name of ["q", "status", "owner"]) form.elements[name].value = p.get(name) || "";
    foldBox.checked = folding();
    const note = document.getElementById("group-filter");
    note.hidden = !p.get("group");
    if (p.get("group")) {
      note.replaceChildren(`The runs of group ${p.get("group")} · `, cnn.el("a", "compare this group", { href: `/compare?groups=${encodeURIComponent(p.get("group"))}` }),
        " · ", cnn.el("a", "show all runs", { href: "/" }));
    }
    headRow.querySelectorAll("th.chosen").forEach((th) => th.remove());
    const statusTh = headRow.querySelector('button.sort[data-sort="status"]').closest("th");
    let after = statusTh;
    for (const name of chosen()) {
      const c = choices.get(name), th = cnn.el("th", null, { scope: "col", class: "chosen" + (isNumeric(c) ? " num" : ""), "data-column": name });
      if (c && c.sort) th.append(cnn.el("button", name, { class: "sort", "data-sort": c.sort, title: c.title, type: "button" }));
      else th.append(cnn.el("span", name, { title: c ? c.title : "" }));
      after.after(th);
      after = th;
    }
    const sort = p.get("sort") || "-created_at";
    document.querySelectorAll("button.sort").forEach((b) => {
      const key = b.dataset.sort;
      b.setAttribute("aria-sort", sort === key ? "ascending" : sort === "-" + key ? "descending" : "none");
    });
    const chips = document.getElementById("chosen-columns");
    chips.replaceChildren(...chosen().map((name) => {
      const chip = cnn.el("span", name + " ", { class: "tag column-chip", "data-column": name });
      const drop = cnn.el("button", "×", { type: "button", class: "link-button", "aria-label": `Remove the column ${name}` });
      drop.addEventListener("click", () => go({ columns: chosen().filter((c) => c !== name).join(",") }));
      chip.append(drop);
      return chip;
    }));
  }

  function go(changes) {
    const p = params();
    for (const [k, v] of Object.entries(changes)) { if (v === "" || v === null) p.delete(k); else p.set(k, v); }
    history.pushState(null, "", "?" + p.toString());
    syncForm();
    load();
  }

  const isNumeric = (c) => !!c && ["number", "integer", "accuracy"].includes(c.kind);
  // a chosen column's value as text: accuracies as percents, lists as the form writes them
  function shown(c, v) {
    if (v === null || v === undefined) return "–";
    if (c && c.kind === "accuracy") return cnn.pct(v);
    if (Array.isArray(v)) return v.map((x) => (Array.isArray(x) ? x.join(",") : x)).join(Array.isArray(v[0]) ? "/" : ",");
    if (typeof v === "number" && c && c.kind === "integer") return cnn.int(v);
    return String(v);
  }

  // the status cell of a run: its badge, and where it is (training progress, finishing, its place in the queue)
  function statusCell(run) {
    const tdStatus = cnn.statusCell(run.status);
    if (run.status === RUNNING && run.epochs_done >= run.epochs) {  // training over: evaluating, exporting
      tdStatus.append(" ", cnn.el("small", "finishing…", { class: "row-phase", title: "every planned epoch is done: the worker evaluates the chosen weights and exports the model" }));
    } else if (run.status === RUNNING && run.progress) {
      const p = run.progress, bar = cnn.el("progress", null, { max: p.batches, class: "row-progress",
        title: `epoch ${p.epoch} of ${run.epochs}: ${p.batch} of ${p.batches} batches, ${Math.round(p.images_per_s)} images/s` });
      bar.value = p.batch;
      tdStatus.append(" ", bar, cnn.el("small", ` ep ${p.epoch}/${run.epochs}`));
    } else if (run.queue) {  // queued: its place in the queue and when it should start (Workers page: the whole queue)
      const q = run.queue;
      tdStatus.append(" ", cnn.el("small", `${cnn.ordinal(q.position)} in line` + (q.eta_start_s === null ? "" : `, starts ${cnn.inAbout(q.eta_start_s)}`),
        { class: "row-queue", title: cnn.queueText(q) }));
    }
    return tdStatus;
  }

  // tag chips (a click adds tag:x to the query) and the caller's star, when the summary carries them
  function organiseBits(run, td) {
    if (typeof run.starred === "boolean") {
      const star = cnn.el("button", run.starred ? "★" : "☆", { type: "button", class: "link-button star row-star",
        "aria-pressed": String(run.starred), "aria-label": `${run.starred ? "Unstar" : "Star"} run ${run.id}`,
        title: (run.starred ? "Remove your star" : "Star this run") + (run.stars ? ` (${run.stars} stars)` : "") });
      star.addEventListener("click", async () => {
        const on = (lastRuns.get(run.id) || run).starred;
        const r = await cnn.api(on ? "DELETE" : "PUT", `/api/runs/${run.id}/star`);
        if (!r.ok) { cnn.showApiErrors(form, r); return; }
        // the row may have been drawn again meanwhile (a run event, a reload): the star goes on the row shown now,
        // and a list read that began before this answer keeps it (starEdits)
        const mark = { starred: r.data.starred, stars: r.data.stars };
        starEdits.set(run.id, { ...mark, during: loading });
        const now = { ...(lastRuns.get(run.id) || run), ...mark };
        lastRuns.set(run.id, now);
        const shown = tbody.querySelector(`tr[data-run-id="${run.id}"]`);
        if (shown) shown.replaceWith(row(now));
      });
      td.prepend(star, " ");
    }
    if (Array.isArray(run.tags) && run.tags.length) {
      const tags = cnn.el("span", null, { class: "tags row-tags" });
      for (const tag of run.tags) {
        const chip = cnn.el("button", tag, { type: "button", class: "tag", title: `Show the runs tagged ${tag}` });
        chip.addEventListener("click", () => {
          const q = params().get("q") || "", term = `tag:${tag}`;
          if (!q.split(/\s+/).includes(term)) go({ q: (q ? q + " " : "") + term, page: "" });
        });
        tags.append(chip);
      }
      td.append(" ", tags);
    }
  }

  function originCell(run) {
    const td = document.createElement("td");
    const o = run.origin;
    if (o) {
      const path = { sweep: "/sweeps/", search: "/searches/", study: "/studies/" }[o.kind];
      td.append(cnn.el("a", `${o.kind}: ${o.name}`, { href: path + o.id, class: "origin", title: `${o.kind} ${o.id}` }));
    }
    return td;
  }

  function row(run) {
    const tr = document.createElement("tr");
    tr.dataset.runId = run.id;
    const box = cnn.el("input", null, { type: "checkbox", "aria-label": `Select run ${run.id}` });
    box.checked = selected.has(run.id);
    box.addEventListener("change", () => { box.checked ? selected.add(run.id) : selected.delete(run.id); pickChanged(); });
    const tdBox = document.createElement("td"); tdBox.append(box); tr.append(tdBox);
    const tdName = cnn.el("td", null, { class: "name", title: run.name }); // a long name ends in "…": whole in its title
    tdName.append(cnn.el("a", run.name, { href: `/runs/${run.id}` }));
    organiseBits(run, tdName);
    tr.append(tdName);
    tr.append(statusCell(run));
    for (const name of chosen()) {
      const c = choices.get(name), v = run.values ? run.values[name] : undefined;
      tr.append(cnn.el("td", shown(c, v), { class: "chosen" + (isNumeric(c) ? " num" : ""), "data-column": name }));
    }
    tr.append(cnn.el("td", run.architecture));
    for (const v of [cnn.int(run.params), cnn.int(run.macs)]) tr.append(cnn.el("td", v, { class: "num" }));
    tr.append(cnn.headlineCell(run));
    for (const v of [cnn.pct(run.best_val_acc), cnn.pct(run.best_test_acc), cnn.pct(run.last_train_acc), cnn.pct(run.last_test_acc),
      run.train_test_gap === null ? "–" : (100 * run.train_test_gap).toFixed(1) + " pt", cnn.duration(run.train_seconds)]) {
      tr.append(cnn.el("td", v, { class: "num" }));
    }
    tr.append(originCell(run));
    tr.append(cnn.el("td", run.owner));
    tr.append(cnn.el("td", new Date(run.created_at).toLocaleString()));
    if (folding() && run.group_id !== null && groups.has(run.group_id)) {
      tr.classList.add("member");
      tr.dataset.memberOf = run.group_id;
      tr.hidden = !expanded.has(run.group_id);
    }
    return tr;
  }

  // one group's folded row; first: its first run on this page (architecture and size: one config)
  function groupRow(g, first) {
    const s = g.summary, f = s.figures, tr = document.createElement("tr");
    tr.className = "group-row";
    tr.dataset.groupId = g.id;
    const box = cnn.el("input", null, { type: "checkbox", "aria-label": `Select group ${g.id}` });
    box.checked = selectedGroups.has(g.id);
    box.addEventListener("change", () => { box.checked ? selectedGroups.add(g.id) : selectedGroups.delete(g.id); pickChanged(); });
    const tdBox = document.createElement("td"); tdBox.append(box); tr.append(tdBox);
    const tdName = document.createElement("td");
    const open = expanded.has(g.id);
    const toggle = cnn.el("button", open ? "▾" : "▸", { type: "button", class: "fold-toggle", "aria-expanded": String(open),
      "aria-label": `Show the ${s.runs} runs of group ${g.id}` });
    toggle.addEventListener("click", () => {
      const now = !expanded.has(g.id);
      now ? expanded.add(g.id) : expanded.delete(g.id);
      toggle.textContent = now ? "▾" : "▸";
      toggle.setAttribute("aria-expanded", String(now));
      tbody.querySelectorAll(`tr[data-member-of="${g.id}"]`).forEach((r) => { r.hidden = !now; });
    });
    tdName.append(toggle, " ", cnn.el("span", g.name, { class: "group-name" }), " ",
      cnn.el("small", `group ${g.id} · ${s.runs} runs, seeds ${g.seeds.join(", ")}`, { class: "facts" }), " ",
      cnn.el("a", "compare", { href: `/compare?groups=${g.id}`, class: "group-compare" }));
    tr.append(tdName);
    const tdStatus = document.createElement("td");
    tdStatus.append(cnn.el("span", `${s.n} of ${s.runs} done`, { class: "group-status" }));
    if (s.pending) tdStatus.append(cnn.el("small", ` · ${s.pending} pending`));
    if (s.incomplete) tdStatus.append(cnn.el("small", ` · ${s.incomplete} failed/cancelled`));
    tr.append(tdStatus);
    for (const name of chosen()) tr.append(cnn.el("td", "", { class: "chosen", "data-column": name }));  // per run, below
    tr.append(cnn.el("td", first.architecture));
    for (const v of [cnn.int(first.params), cnn.int(first.macs)]) tr.append(cnn.el("td", v, { class: "num" }));
    const head = f.test_acc_at_best_val;
    const tdHead = cnn.el("td", null, { class: "num headline", title: `n = ${s.n}; mean ± standard deviation; 95% CI of the mean ${cnn.ci(head)}` });
    tdHead.append(cnn.el("span", cnn.spread(head), { class: "group-mean" }), " ", cnn.el("small", `n=${s.n}`, { class: "group-n" }));
    if (s.selected_on === ON_TEST && s.n) tdHead.append(" ", cnn.el("small", "chosen on test", { class: "on-test" }));
    tr.append(tdHead);
    for (const v of [cnn.spread(f.best_val_acc), cnn.spread(f.best_test_acc), "–", "–", "–",
      f.train_seconds && f.train_seconds.mean !== null ? cnn.duration(f.train_seconds.mean) : "–"]) {
      tr.append(cnn.el("td", v, { class: "num" }));
    }
    tr.append(originCell(first));
    tr.append(cnn.el("td", g.owner));
    tr.append(cnn.el("td", new Date(g.created_at).toLocaleString()));
    return tr;
  }

  // the page's runs in order; with folding, a group's row where its first run was, its runs under it
  function rows(runs) {
    if (!folding()) return runs.map(row);
    const out = [], placed = new Set();
    for (const run of runs) {
      const gid = run.group_id;
      if (gid === null || !groups.has(gid)) { out.push(row(run)); continue; }
      if (placed.has(gid)) continue;
      placed.add(gid);
      out.push(groupRow(groups.get(gid), run), ...runs.filter((r) => r.group_id === gid).map(row));
    }
    return out;
  }

  async function readGroups(runs) {
    const ids = [...new Set(runs.map((r) => r.group_id).filter((g) => g !== null))];
    if (!folding() || !ids.length) return new Map();
    const r = await cnn.api("GET", "/api/groups?ids=" + ids.join(","));
    return r.ok ? new Map(r.data.data.map((g) => [g.id, g])) : new Map();
  }

  // a group's runs changed (live): its folded row is read again, at most once a second
  let groupTimer = null;
  function refreshGroups() {
    clearTimeout(groupTimer);
    groupTimer = setTimeout(async () => {
      const shownGroups = [...tbody.querySelectorAll("tr.group-row")].map((tr) => Number(tr.dataset.groupId));
      if (!shownGroups.length) return;
      const r = await cnn.api("GET", "/api/groups?ids=" + shownGroups.join(","));
      if (!r.ok) return;
      for (const g of r.data.data) {
        groups.set(g.id, g);
        const old = tbody.querySelector(`tr.group-row[data-group-id="${g.id}"]`);
        const first = tbody.querySelector(`tr[data-member-of="${g.id}"]`);
        if (old && first) old.replaceWith(groupRow(g, lastRuns.get(Number(first.dataset.runId))));
      }
    }, 1000);
  }

  // a refused query: the message by the query box, the offending token selected in it
  function refused(r) {
    cnn.showApiErrors(form, r);
    const d = r.data && Array.isArray(r.data.detail) ? r.data.detail[0] : null; // where the query went wrong
    const box = form.elements.q;
    if (d && d.field === "q" && typeof d.position === "number" && document.activeElement === box) {
      box.setSelectionRange(d.position, d.position + Math.max(1, (d.token || "").length));
    }
    tbody.replaceChildren();
    document.getElementById("page-info").textContent = "";
    document.getElementById("no-match").hidden = true;
    document.getElementById("empty").hidden = true;
  }

  let lastRuns = new Map(); // run id → RunPublic, as last shown
  let loading = 0;
  const starEdits = new Map(); // run id → { starred, stars, during: the load under way when it was made }
  async function load() {
    const p = params();
    const page = Math.max(1, Number(p.get("page") || 1));
    const query = new URLSearchParams({ limit: PAGE, offset: (page - 1) * PAGE, sort: p.get("sort") || "-created_at" });
    for (const k of FILTERS) if (p.get(k)) query.set(k, p.get(k));
    if (chosen().length) query.set("columns", chosen().join(","));
    const mine = ++loading;
    const r = await cnn.api("GET", "/api/runs?" + query);
    if (mine !== loading) return;  // a newer load is under way: its answer counts
    document.body.dataset.loaded = "1";
    if (!r.ok) { refused(r); document.body.dataset.shown = String(mine); return; }
    cnn.showErrors(form, []);
    groups = await readGroups(r.data.data);
    // a star set while this list was being read is newer than what the list says
    const runs = r.data.data.map((run) => {
      const edit = starEdits.get(run.id);
      return edit && edit.during >= mine ? { ...run, starred: edit.starred, stars: edit.stars } : run;
    });
    lastRuns = new Map(runs.map((run) => [run.id, run]));
    tbody.replaceChildren(...rows(runs));
    // nothing to show: the first steps for a lab without runs, else a way out of the filters
    const filtered = FILTERS.some((k) => p.get(k));
    document.getElementById("empty").hidden = r.data.count > 0 || filtered;
    document.getElementById("no-match").hidden = r.data.count > 0 || !filtered;
    const pages = Math.max(1, Math.ceil(r.data.count / PAGE));
    document.getElementById("page-info").textContent = `Page ${page} of ${pages} · ${r.data.count} runs`;
    document.getElementById("prev").disabled = page <= 1;
    document.getElementById("next").disabled = page >= pages;
    document.body.dataset.shown = String(mine);  // tests wait for a load after their change
  }

  // --- saved views ---------------------------------------------------------------------------------
  // what a view saves: the query (with the status and owner filters written into it), the columns, the sort
  function currentView() {
    const p = params(), terms = [p.get("q") || ""];
    if (p.get("status")) terms.push(`status:${p.get("status")}`);
    if (p.get("owner")) terms.push(`owner:"${p.get("owner").replace(/["\\]/g, "\\$&")}"`);
    return { query: terms.filter(Boolean).join(" "), columns: chosen(), sort: p.get("sort") || "-created_at" };
  }

  async function loadViews() {
    const r = await cnn.api("GET", "/api/views");
    if (!r.ok) return;
    const list = document.getElementById("views");
    list.replaceChildren(...r.data.data.map((v) => {
      const li = cnn.el("li", null, { "data-view-id": v.id });
      const del = cnn.el("button", "×", { type: "button", class: "link-button", "aria-label": `Delete the view ${v.name}` });
      del.addEventListener("click", async () => {
        const d = await cnn.api("DELETE", `/api/views/${v.id}`);
        if (d.ok) loadViews(); else cnn.showApiErrors(viewForm, d);
      });
      li.append(cnn.el("a", v.name, { href: v.url, title: [v.query, v.columns.join(", "), v.sort].filter(Boolean).join(" · ") }), " ", del);
      return li;
    }));
    document.getElementById("no-views").hidden = r.data.count > 0;
  }

  viewForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    const name = document.getElementById("view-name").value.trim();
    const r = await cnn.api("POST", "/api/views", { name, ...currentView() });
    if (!r.ok) { cnn.showApiErrors(viewForm, r); return; }
    cnn.showErrors(viewForm, []);
    document.getElementById("view-name").value = "";
    loadViews();
  });

  // --- the column chooser --------------------------------------------------------------------------
  function addColumn() {
    const pick = document.getElementById("column-pick"), name = pick.value.trim();
    const now = chosen();
    const errors = !choices.has(name) ? [{ field: "columns", message: `${name ? `'${name}' is no column` : "pick a column"}: a run option (lr, augment.cutout, …) or a result from the list` }]
      : now.length >= maxColumns ? [{ field: "columns", message: `at most ${maxColumns} columns` }] : [];
    cnn.showErrors(chooser, errors);
    if (errors.length) return;
    pick.value = "";
    if (!now.includes(name)) go({ columns: [...now, name].join(",") });
  }
  document.getElementById("add-column").addEventListener("click", addColumn);
  document.getElementById("column-pick").addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); addColumn(); } });

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    go({ q: form.elements.q.value.trim(), status: form.elements.status.value, owner: form.elements.owner.value.trim(), page: "" });
  });
  // the chosen columns' headers are made anew with the URL: one listener for every sort button
  headRow.addEventListener("click", (e) => {
    const b = e.target.closest("button.sort");
    if (!b) return;
    const cur = params().get("sort") || "-created_at";
    go({ sort: cur === "-" + b.dataset.sort ? b.dataset.sort : "-" + b.dataset.sort, page: "" });
  });
  document.getElementById("prev").addEventListener("click", () => go({ page: Math.max(1, Number(params().get("page") || 1) - 1) }));
  document.getElementById("next").addEventListener("click", () => go({ page: Number(params().get("page") || 1) + 1 }));
  foldBox.addEventListener("change", () => go({ fold: foldBox.checked ? "" : "0" }));
  compareBtn.addEventListener("click", () => {
    const q = new URLSearchParams();
    if (selected.size) q.set("ids", [...selected].join(","));
    if (selectedGroups.size) q.set("groups", [...selectedGroups].join(","));
    location.href = "/compare?" + q.toString().replace(/%2C/g, ",");
  });
  studyBtn.addEventListener("click", async () => {
    // the ticked runs' configs become the study's entries, the runs themselves its first launch
    const name = document.getElementById("study-name").value.trim() || `${selected.size + selectedGroups.size} runs`;
    // a ticked group brings all its runs
    const runIds = [...new Set([...selected, ...[...selectedGroups].flatMap((g) => (groups.get(g) || { run_ids: [] }).run_ids)])];
    const r = await cnn.api("POST", "/api/studies", { name, run_ids: runIds });
    if (r.ok) { location.href = `/studies/${r.data.id}`; return; }
    cnn.showApiErrors(form, r);
  });
  window.addEventListener("popstate", () => { syncForm(); load(); });
  let reload = null;
  const soon = () => { clearTimeout(reload); reload = setTimeout(load, 300); };
  cnn.follow("/api/runs/events", {
    run: (run) => {
      const old = tbody.querySelector(`tr[data-run-id="${run.id}"]`);
      if (old) {
        // the stream's summary is everyone's: the row keeps what only the list reads (columns, origin, your star)
        const before = lastRuns.get(run.id) || {};
        const merged = { ...run, values: before.values ?? run.values, origin: before.origin ?? run.origin,
          starred: run.starred ?? before.starred };
        lastRuns.set(run.id, merged);
        old.replaceWith(row(merged));
        document.body.dataset.updates = String(Number(document.body.dataset.updates || 0) + 1);
        if (run.group_id !== null && groups.has(run.group_id)) refreshGroups();
      }
      else soon(); // a new run, or one this page does not show yet: the list is read again once
    },
    deleted: soon,
  });
  syncForm();
  load();
  loadViews();
})();
