// Account page: change your own password (it ends every session: sign in again).
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
  document.body.dataset.ready = "1";
})();
