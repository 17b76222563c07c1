// Account page: change your own password (it ends every session: sign in again); this browser's
// notifications (common.js's cnn.notify follows them on every page); your webhooks and their last
// deliveries. User text (URLs, errors) reaches the page through textContent only.
"use strict";
(() => {
  const form = document.getElementById("password-form");
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const body = { current_password: form.querySelector("#current_password").value, new_password: form.querySelector("#new_password").value };
    const r = await cnn.api("POST", "/api/me/password", body);
    if (!r.ok) {
      cnn.showApiErrors(form, r);
      return;
    }
    window.location.assign("/login?next=/account");
  });

  // --- notifications in this browser ---
  const toggle = $("notify-toggle"), state = $("notify-state");
  function sayNotify() {
    if (!cnn.notify.supported()) {
      toggle.checked = false;
      toggle.disabled = true;
      state.textContent = "This browser cannot show notifications.";
      return;
    }
    toggle.checked = cnn.notify.active();
    state.textContent = Notification.permission === "denied"
      ? "This browser blocks cnnlab's notifications: allow them in its settings for this site, then turn this on."
      : toggle.checked ? "On: any open cnnlab page of this browser tells you." : "Off.";
  }
  toggle.addEventListener("change", async () => {
    if (toggle.checked) {
      const permission = Notification.permission === "granted" ? "granted" : await Notification.requestPermission();
      if (permission === "granted") { cnn.notify.enable(); } else cnn.notify.disable();
    } else cnn.notify.disable();
    sayNotify();
  });
  sayNotify();

  // --- webhooks ---
  const hooksBody = document.querySelector("#webhooks tbody");
  const hookForm = $("new-webhook");
  const eventsBox = $("webhook-events");
  const DELIVERED = cnn.word("delivery_statuses", "delivered"), PENDING = cnn.word("delivery_statuses", "pending");
  for (const ev of cnn.vocabulary.webhook_events || []) {
    const label = cnn.el("label", null, { class: "check" });
    const input = cnn.el("input", null, { type: "checkbox", value: ev, name: "webhook-event" });
    input.checked = ev.startsWith("run.succeeded") || ev.startsWith("run.failed");
    label.append(input, " " + ev);
    eventsBox.append(label);
  }
  cnn.copyButton($("copy-webhook-secret"), $("webhook-secret"));

  const answer = (d) => (d.last_error ? d.last_error : d.last_status_code !== null ? `answered ${d.last_status_code}` : "–");
  function deliveryLine(d) {
    if (!d) return "none yet";
    const when = d.status === DELIVERED ? cnn.when(d.delivered_at) : d.status === PENDING ? `next try ${cnn.when(d.next_attempt_at)}` : cnn.when(d.created_at);
    return `${d.event}: ${d.status} after ${d.attempts} attempt${d.attempts === 1 ? "" : "s"} (${when})`;
  }
  function deliveriesTable(list) {
    if (!list.length) return cnn.el("p", "No deliveries yet.", { class: "facts" });
    const table = cnn.el("table", null, { class: "grid deliveries" });
    const head = document.createElement("tr");
    for (const h of ["Queued", "Event", "Status", "Attempts", "Last answer", "Delivered / next try"]) head.append(cnn.el("th", h, { scope: "col" }));
    table.append(head);
    for (const d of list) {
      const tr = document.createElement("tr");
      tr.dataset.deliveryId = d.id;
      const status = cnn.el("td");
      status.append(cnn.el("span", d.status, { class: "status delivery-" + d.status }));
      tr.append(cnn.el("td", cnn.when(d.created_at)), cnn.el("td", d.event), status, cnn.el("td", d.attempts, { class: "num" }),
        cnn.el("td", answer(d), { class: "reason" }),
        cnn.el("td", d.status === DELIVERED ? cnn.when(d.delivered_at) : d.status === PENDING ? cnn.when(d.next_attempt_at) : "–"));
      table.append(tr);
    }
    return table;
  }

  let refreshes = 0;  // re-reads while a delivery is pending: a few, then the page stays quiet
  async function loadHooks() {
    const r = await cnn.api("GET", "/api/webhooks");
    if (!r.ok) { document.body.dataset.ready = "1"; return; }
    const { data, allowed_hosts: hosts, limit, max_attempts: attempts } = r.data;
    $("webhook-hosts").textContent = hosts.length
      ? `Hosts this lab allows (set by an admin): ${hosts.join(", ")}. At most ${limit} webhooks each; a delivery is tried ${attempts} times.`
      : "This lab allows no webhook host: an admin must name the hosts in CNNLAB_WEBHOOK_ALLOWED_HOSTS before any webhook can be added.";
    $("no-webhooks").hidden = data.length > 0;
    const lists = await Promise.all(data.map((h) => cnn.api("GET", `/api/webhooks/${h.id}/deliveries`)));
    const rows = [];
    let pending = false;
    data.forEach((h, i) => {
      const list = lists[i].ok ? lists[i].data.data : [];
      pending = pending || list.some((d) => d.status === PENDING);
      const tr = document.createElement("tr");
      tr.dataset.webhookId = h.id;
      tr.append(cnn.el("td", h.url, { class: "name", title: h.url }), cnn.el("td", h.events.join(", ")),
        cnn.el("td", h.secret_prefix), cnn.el("td", cnn.when(h.created_at)), cnn.el("td", deliveryLine(list[0]), { class: "last-delivery" }));
      const actions = document.createElement("td");
      const more = document.createElement("tr");
      more.className = "webhook-deliveries";
      more.hidden = !shownDeliveries.has(h.id);
      const cell = cnn.el("td", null, { colspan: "6" });
      cell.append(deliveriesTable(list));
      more.append(cell);
      const show = cnn.el("button", more.hidden ? "Deliveries" : "Hide deliveries", { type: "button", class: "show-deliveries" });
      show.addEventListener("click", () => {
        more.hidden = !more.hidden;
        if (more.hidden) shownDeliveries.delete(h.id); else shownDeliveries.add(h.id);
        show.textContent = more.hidden ? "Deliveries" : "Hide deliveries";
      });
      const test = cnn.el("button", "Test", { type: "button", class: "test-webhook", title: "send a ping delivery now" });
      test.addEventListener("click", async () => {
        const t = await cnn.api("POST", `/api/webhooks/${h.id}/test`);
        if (t.ok) { shownDeliveries.add(h.id); refreshes = 0; loadHooks(); }
      });
      const del = cnn.el("button", "Delete", { type: "button", class: "delete-webhook" });
      del.addEventListener("click", async () => {
        if (!confirm(`Delete the webhook to ${h.url}? Its deliveries still pending are never sent.`)) return;
        const d = await cnn.api("DELETE", `/api/webhooks/${h.id}`);
        if (d.ok) loadHooks();
      });
      actions.append(show, " ", test, " ", del);
      tr.append(actions);
      rows.push(tr, more);
    });
    hooksBody.replaceChildren(...rows);
    document.body.dataset.ready = "1";
    if (pending && refreshes < 15) { refreshes += 1; setTimeout(loadHooks, 2000); }
  }
  const shownDeliveries = new Set();

  hookForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    const events = [...eventsBox.querySelectorAll("input:checked")].map((i) => i.value);
    const r = await cnn.api("POST", "/api/webhooks", { url: $("webhook-url").value.trim(), events });
    if (!r.ok) { cnn.showApiErrors(hookForm, r); return; }
    cnn.showErrors(hookForm, []);
    $("webhook-secret").textContent = r.data.secret;
    $("new-webhook-secret").hidden = false;
    $("webhook-url").value = "";
    loadHooks();
  });
  loadHooks();
})();
