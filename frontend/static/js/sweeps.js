"use strict";
// The list of sweeps (GET /api/sweeps, a page at a time, newest first): what each varies, its points and
// runs, its runs by status, each linking to its page. The URL (?page=, ?owner=) reproduces the view;
// the counts follow the runs' event stream (a run of a shown sweep changing status reads the page again).
(() => {
  const root = $("sweeps-page");
  const PAGE = Number(root.dataset.pageSize);
  const params = () => new URLSearchParams(location.search);
  const go = (changes) => {
    const p = params();
    for (const [k, v] of Object.entries(changes)) { if (v === "" || v === null) p.delete(k); else p.set(k, v); }
    history.replaceState(null, "", p.toString() ? `?${p}` : location.pathname);
    load();
  };
  let shown = new Set(), statuses = new Map(); // sweep ids on the page; run id → its last status seen

  function row(s) {
    const tr = document.createElement("tr");
    tr.dataset.sweepId = s.id;
    const name = document.createElement("td");
    name.append(cnn.el("a", s.name, { href: `/sweeps/${s.id}` }));
    const varies = Object.entries(s.grid).map(([k, values]) => `${k}: ${values.map((v) => JSON.stringify(v)).join(", ")}`).join(" × ");
    const counts = cnn.STATUSES.filter((st) => s.statuses[st]).map((st) => {
      const badge = cnn.el("span", null, { title: `${s.statuses[st]} ${st}` });
      cnn.statusBadge(badge, st);
      badge.textContent = `${s.statuses[st]} ${st}`;
      return badge;
    });
    const cell = document.createElement("td");
    cell.className = "statuses";
    cell.append(...(counts.length ? counts : ["–"]));
    tr.append(name, cnn.el("td", s.owner), cnn.el("td", varies, { class: "facts" }),
      cnn.el("td", s.repeats > 1 ? `${cnn.int(s.points)} × ${s.repeats} seeds` : cnn.int(s.points), { class: "num" }),
      cnn.el("td", cnn.int(s.runs), { class: "num" }), cell, cnn.el("td", cnn.when(s.created_at)));
    return tr;
  }

  const load = cnn.serial(async () => {
    const p = params();
    const page = Math.max(1, Number(p.get("page") || 1));
    const query = new URLSearchParams({ limit: PAGE, offset: (page - 1) * PAGE });
    if (p.get("owner")) query.set("owner", p.get("owner"));
    $("only-mine").checked = !!p.get("owner") && p.get("owner") === cnn.me().username;
    const r = await cnn.api("GET", "/api/sweeps?" + query);
    if (!r.ok) { cnn.showApiErrors(root, r); return; }
    cnn.showErrors(root, []);
    shown = new Set(r.data.data.map((s) => s.id));
    document.querySelector("#sweeps tbody").replaceChildren(...r.data.data.map(row));
    $("sweeps-empty").hidden = r.data.count > 0;
    const pages = Math.max(1, Math.ceil(r.data.count / PAGE));
    $("page-info").textContent = `Page ${page} of ${pages} · ${cnn.int(r.data.count)} sweep${r.data.count === 1 ? "" : "s"}`;
    $("prev").disabled = page <= 1;
    $("next").disabled = page >= pages;
    document.body.dataset.ready = "1";
  });

  $("prev").addEventListener("click", () => go({ page: Math.max(1, Number(params().get("page") || 1) - 1) }));
  $("next").addEventListener("click", () => go({ page: Number(params().get("page") || 1) + 1 }));
  $("only-mine").addEventListener("change", () => go({ owner: $("only-mine").checked ? cnn.me().username : "", page: "" }));
  $("sweeps-filter").addEventListener("submit", (e) => e.preventDefault());
  // a sweep's counts change when one of its runs changes status; a new sweep's first run appears on page 1
  cnn.follow("/api/runs/events", {
    run: (run) => {
      if (run.sweep_id === null || statuses.get(run.id) === run.status) return;
      statuses.set(run.id, run.status);
      if (shown.has(run.sweep_id) || Number(params().get("page") || 1) === 1) load();
    },
    deleted: (d) => { if (statuses.delete(d.id)) load(); },
  }, { live: $("live") });
  load();
})();
