// Tokens page: the caller's API tokens; a new one's secret is shown once.
"use strict";
(() => {
  const tbody = document.querySelector("#tokens tbody");
  const state = (t) => (t.revoked_at ? "revoked" : t.expires_at && new Date(t.expires_at) <= new Date() ? "expired" : "active");

  async function load() {
    const r = await cnn.api("GET", "/api/tokens");
    if (!r.ok) return;
    tbody.replaceChildren(...r.data.data.map((t) => {
      const tr = document.createElement("tr");
      tr.dataset.tokenId = t.id;
      for (const text of [t.label, t.prefix + "…", cnn.when(t.created_at), cnn.when(t.last_used_at),
        t.expires_at ? cnn.when(t.expires_at) : "never", state(t)]) tr.append(cnn.el("td", text));
      const cell = document.createElement("td");
      if (state(t) === "active") {
        const revoke = cnn.el("button", "Revoke", { type: "button", class: "revoke" });
        revoke.addEventListener("click", async () => {
          if (!confirm(`Revoke the token "${t.label}"? Scripts using it stop working at once.`)) return;
          const d = await cnn.api("DELETE", `/api/tokens/${t.id}`);
          if (d.ok) load();
        });
        cell.append(revoke);
      }
      tr.append(cell);
      return tr;
    }));
    document.body.dataset.ready = "1";
  }

  const form = document.getElementById("new-token");
  cnn.copyButton($("copy-secret"), $("secret"));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const days = document.getElementById("token-days").value;
    const body = { label: document.getElementById("token-label").value.trim(), expires_days: days ? Number(days) : null };
    const r = await cnn.api("POST", "/api/tokens", body);
    if (!r.ok) { cnn.showApiErrors(form, r); return; }
    cnn.showErrors(form, []);
    document.getElementById("secret").textContent = r.data.token;
    document.getElementById("new-secret").hidden = false;
    form.reset();
    load();
  });
  load();
})();
