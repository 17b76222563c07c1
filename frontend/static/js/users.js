// Users page (admins): make users, change roles, deactivate, set passwords; worker tokens; the audit record.
"use strict";
(() => {
  const [ADMIN, MEMBER] = cnn.words("roles", "admin", "member");

  function button(text, cls, onClick) {
    const b = cnn.el("button", text, { type: "button", class: cls });
    b.addEventListener("click", onClick);
    return b;
  }

  async function loadUsers() {
    const r = await cnn.api("GET", "/api/users");
    if (!r.ok) return;
    $("users").querySelector("tbody").replaceChildren(...r.data.data.map((u) => {
      const tr = document.createElement("tr");
      tr.dataset.username = u.username;
      const stateText = !u.active ? "deactivated" : u.can_sign_in ? "active" : "no password yet";
      for (const text of [u.username, u.display_name, u.role, stateText, cnn.when(u.last_sign_in_at)]) tr.append(cnn.el("td", text));
      const cell = document.createElement("td");
      const patch = async (body) => {
        const p = await cnn.api("PATCH", `/api/users/${u.id}`, body);
        if (p.ok) cnn.showErrors($("user-list"), []); else cnn.showApiErrors($("user-list"), p);
        loadUsers(); loadAudit();
      };
      if (u.username !== "cnnlab" && u.username !== "local" && u.username !== cnn.me().username) {
        cell.append(button(u.role === ADMIN ? `Make ${MEMBER}` : `Make ${ADMIN}`, "role", () => patch({ role: u.role === ADMIN ? MEMBER : ADMIN })));
        cell.append(button(u.active ? "Deactivate" : "Reactivate", "active", () => patch({ active: !u.active })));
        cell.append(button("Set password", "password", () => {
          const pw = prompt(`New password for ${u.username} (at least 8 characters; it ends their sessions):`);
          if (pw) patch({ password: pw });
        }));
      }
      tr.append(cell);
      return tr;
    }));
  }

  async function loadWorkerTokens() {
    const r = await cnn.api("GET", "/api/worker-tokens");
    if (!r.ok) return;
    $("worker-tokens").querySelector("tbody").replaceChildren(...r.data.data.map((t) => {
      const tr = document.createElement("tr");
      for (const text of [t.label, t.prefix + "…", cnn.when(t.created_at), cnn.when(t.last_used_at), t.revoked_at ? "revoked" : "active"]) tr.append(cnn.el("td", text));
      const cell = document.createElement("td");
      if (!t.revoked_at) cell.append(button("Revoke", "revoke", async () => {
        if (!confirm(`Revoke the worker token "${t.label}"? A worker using it can no longer claim or report runs.`)) return;
        await cnn.api("DELETE", `/api/worker-tokens/${t.id}`); loadWorkerTokens(); loadAudit();
      }));
      tr.append(cell);
      return tr;
    }));
  }

  async function loadAudit() {
    const r = await cnn.api("GET", "/api/audit?limit=50");
    if (!r.ok) return;
    $("audit").querySelector("tbody").replaceChildren(...r.data.data.map((a) => {
      const tr = document.createElement("tr");
      for (const text of [cnn.when(a.at), a.actor || "–", a.summary]) tr.append(cnn.el("td", text));
      return tr;
    }));
  }

  $("new-user").addEventListener("submit", async (e) => {
    e.preventDefault();
    const form = e.target;
    const body = { username: $("new-username").value.trim(), role: $("new-role").value, password: $("new-password").value };
    if ($("new-display").value.trim()) body.display_name = $("new-display").value.trim();
    const r = await cnn.api("POST", "/api/users", body);
    if (!r.ok) { cnn.showApiErrors(form, r); return; }
    cnn.showErrors(form, []);
    form.reset();
    await loadUsers();
    loadAudit();
  });

  cnn.copyButton($("copy-worker-secret"), $("worker-secret"));
  $("new-worker-token").addEventListener("submit", async (e) => {
    e.preventDefault();
    const form = e.target;
    const r = await cnn.api("POST", "/api/worker-tokens", { label: $("worker-label").value.trim() });
    if (!r.ok) { cnn.showApiErrors(form, r); return; }
    cnn.showErrors(form, []);
    $("worker-secret").textContent = r.data.token;
    $("new-worker-secret").hidden = false;
    form.reset();
    loadWorkerTokens();
  });

  Promise.all([loadUsers(), loadWorkerTokens(), loadAudit()]).then(() => { document.body.dataset.ready = "1"; });
})();
