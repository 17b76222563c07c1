"use strict";
// The list of studies, and a new study from a JSON list of entries.
(() => {
  const form = document.getElementById("study-form");

  async function load() {
    const r = await cnn.api("GET", "/api/studies");
    if (!r.ok) return;
    document.querySelector("#studies tbody").replaceChildren(...r.data.data.map((s) => {
      const tr = document.createElement("tr");
      tr.dataset.studyId = s.id;
      const name = cnn.el("td", null, { class: "name", title: s.name });
      name.append(cnn.el("a", s.name, { href: `/studies/${s.id}` }));
      if (s.slug) name.append(" ", cnn.el("small", "shipped", { class: "facts" }));
      const last = s.launches[s.launches.length - 1];
      tr.append(name, cnn.el("td", s.entries.length, { class: "num" }), cnn.el("td", s.launches.length, { class: "num" }),
        cnn.el("td", last ? `${new Date(last.created_at).toLocaleString()} · ${last.finished} of ${Object.values(last.run_ids || {}).flat().length || Object.keys(last.runs).length} finished` : "–"),
        cnn.el("td", s.owner));
      return tr;
    }));
    document.body.dataset.ready = "1";
  }

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    let parsed;
    try { parsed = JSON.parse($("study-entries").value); } catch (err) {
      cnn.showErrors(form, [{ field: "entries", message: `not valid JSON (${err.message})` }]); return;
    }
    // a list of entries, or {"entries": [...], "claims": [...]}
    const entries = Array.isArray(parsed) ? parsed : parsed?.entries;
    const body = { name: $("study-name").value.trim(), 
      description: $("study-description").value, entries };
    if (!Array.isArray(parsed) && parsed?.claims) body.claims = parsed.claims;
    const r = await cnn.api("POST", "/api/studies", body);
    if (r.ok) { location.href = `/studies/${r.data.id}`; return; }
    cnn.showApiErrors(form, r);
  });
  load();
})();
