"use strict";
// The run list: filters, sort and page live in the URL; rows follow one event stream of the
// queued and running runs (status, epochs, progress inside the epoch) instead of polling.
// The headline column is the test accuracy of the epoch the validation split chose (sortable); the
// best test accuracy over epochs is shown for reference only, labelled "chosen on test", never sorted.
// With "Fold groups" on, the runs of one group of repeats on this page fold into one row: n and the
// mean ± std over its finished runs (GET /api/groups), expandable to its runs.
(() => {
  const PAGE = 50;
  const RUNNING = cnn.word("run_statuses", "running"), ON_TEST = cnn.word("selected_on", "test");
  const tbody = document.querySelector("#runs tbody");
  const form = document.getElementById("filters");
  const compareBtn = document.getElementById("compare");
  const studyBtn = document.getElementById("save-study");
  const foldBox = document.getElementById("fold");
  const selected = new Set(), selectedGroups = new Set(), expanded = new Set();
  let groups = new Map(); // group id → GroupPublic, of the groups on this page
  const params = () => new URLSearchParams(location.search);
  const folding = () => params().get("fold") !== "0";
  const pickChanged = () => { compareBtn.disabled = studyBtn.disabled = selected.size + selectedGroups.size < 1; };

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
    const sort = p.get("sort") || "-created_at";
    document.querySelectorAll("button.sort").forEach((b) => {
      const key = b.dataset.sort;
      b.setAttribute("aria-sort", sort === key ? "ascending" : sort === "-" + key ? "descending" : "none");
    });
  }

  function go(changes) {
    const p = params();
    for (const [k, v] of Object.entries(changes)) { if (v === "" || v === null) p.delete(k); else p.set(k, v); }
    history.pushState(null, "", "?" + p.toString());
    syncForm();
    load();
  }

  function row(run) {
    const tr = document.createElement("tr");
    tr.dataset.runId = run.id;
    const box = cnn.el("input", null, { type: "checkbox", "aria-label": `Select run ${run.id}` });
    box.checked = selected.has(run.id);
    box.addEventListener("change", () => { box.checked ? selected.add(run.id) : selected.delete(run.id); pickChanged(); });
    const tdBox = document.createElement("td"); tdBox.append(box); tr.append(tdBox);
    const tdName = cnn.el("td", null, { class: "name", title: run.name }); // a long name ends in "…": whole in its title
    tdName.append(cnn.el("a", run.name, { href: `/runs/${run.id}` })); tr.append(tdName);
    const tdStatus = cnn.statusCell(run.status);
    if (run.status === RUNNING && run.epochs_done >= run.epochs) {  // training over: evaluating, exporting
      tdStatus.append(" ", cnn.el("small", "finishing…", { class: "row-phase", title: "every planned epoch is done: the worker evaluates the chosen weights and exports the model" }));
    } else if (run.status === RUNNING && run.progress) {
      const p = run.progress, bar = cnn.el("progress", null, { max: p.batches, class: "row-progress",
        title: `epoch ${p.epoch} of ${run.epochs}: ${p.batch} of ${p.batches} batches, ${Math.round(p.images_per_s)} images/s` });
      bar.value = p.batch;
      tdStatus.append(" ", bar, cnn.el("small", ` ep ${p.epoch}/${run.epochs}`));
    }
    tr.append(tdStatus);
    tr.append(cnn.el("td", run.architecture));
    for (const v of [cnn.int(run.params), cnn.int(run.macs)]) tr.append(cnn.el("td", v, { class: "num" }));
    tr.append(cnn.headlineCell(run));
    for (const v of [cnn.pct(run.best_val_acc), cnn.pct(run.best_test_acc), cnn.pct(run.last_train_acc), cnn.pct(run.last_test_acc),
      run.train_test_gap === null ? "–" : (100 * run.train_test_gap).toFixed(1) + " pt", cnn.duration(run.train_seconds)]) {
      tr.append(cnn.el("td", v, { class: "num" }));
    }
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
      const shown = [...tbody.querySelectorAll("tr.group-row")].map((tr) => Number(tr.dataset.groupId));
      if (!shown.length) return;
      const r = await cnn.api("GET", "/api/groups?ids=" + shown.join(","));
      if (!r.ok) return;
      for (const g of r.data.data) {
        groups.set(g.id, g);
        const old = tbody.querySelector(`tr.group-row[data-group-id="${g.id}"]`);
        const first = tbody.querySelector(`tr[data-member-of="${g.id}"]`);
        if (old && first) old.replaceWith(groupRow(g, lastRuns.get(Number(first.dataset.runId))));
      }
    }, 1000);
  }

  let lastRuns = new Map(); // run id → RunPublic, as last shown
  async function load() {
    const p = params();
    const page = Math.max(1, Number(p.get("page") || 1));
    const query = new URLSearchParams({ limit: PAGE, offset: (page - 1) * PAGE, sort: p.get("sort") || "-created_at" });
    for (const k of ["q", "status", "owner", "sweep", "group"]) if (p.get(k)) query.set(k, p.get(k));
    const r = await cnn.api("GET", "/api/runs?" + query);
    if (!r.ok) return;
    groups = await readGroups(r.data.data);
    lastRuns = new Map(r.data.data.map((run) => [run.id, run]));
    tbody.replaceChildren(...rows(r.data.data));
    // nothing to show: the first steps for a lab without runs, else a way out of the filters
    const filtered = ["q", "status", "owner", "sweep", "group"].some((k) => p.get(k));
    document.getElementById("empty").hidden = r.data.count > 0 || filtered;
    document.getElementById("no-match").hidden = r.data.count > 0 || !filtered;
    const pages = Math.max(1, Math.ceil(r.data.count / PAGE));
    document.getElementById("page-info").textContent = `Page ${page} of ${pages} · ${r.data.count} runs`;
    document.getElementById("prev").disabled = page <= 1;
    document.getElementById("next").disabled = page >= pages;
    document.body.dataset.loaded = "1";
  }

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    go({ q: form.elements.q.value.trim(), status: form.elements.status.value, owner: form.elements.owner.value.trim(), page: "" });
  });
  document.querySelectorAll("button.sort").forEach((b) => b.addEventListener("click", () => {
    const cur = params().get("sort") || "-created_at";
    go({ sort: cur === "-" + b.dataset.sort ? b.dataset.sort : "-" + b.dataset.sort, page: "" });
  }));
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
        lastRuns.set(run.id, run);
        old.replaceWith(row(run));
        document.body.dataset.updates = String(Number(document.body.dataset.updates || 0) + 1);
        if (run.group_id !== null && groups.has(run.group_id)) refreshGroups();
      }
      else soon(); // a new run, or one this page does not show yet: the list is read again once
    },
    deleted: soon,
  });
  syncForm();
  load();
})();
