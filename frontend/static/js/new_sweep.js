"use strict";
(() => {
  const form = document.getElementById("sweep-form");
  const parseValue = (s) => { try { return JSON.parse(s); } catch (e) { return s; } };
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    let base;
    try { base = JSON.parse($("base").value); } catch (err) {
      cnn.showErrors(form, [{ field: "base_config", message: `not valid JSON (${err.message})` }]); return;
    }
    const values = $("grid-values").value.split(",").map((s) => s.trim()).filter(Boolean).map(parseValue);
    const body = { name: $("sweep-name").value, base_config: base, grid: { [$("grid-key").value.trim()]: values } };
    const r = await cnn.api("POST", "/api/sweeps", body);
    if (r.ok) { location.href = `/sweeps/${r.data.id}`; return; }
    cnn.showApiErrors(form, r);
  });
  document.body.dataset.ready = "1";
})();
