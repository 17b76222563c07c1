"use strict";
// The run list: filters, sort and page live in the URL; rows follow one event stream of the
// queued and running runs (status, epochs, progress inside the epoch) instead of polling.
(() => {
  const PAGE = 50;
  const tbody = document.querySelector("#runs tbody");
  const form = document.getElementById("filters");
  const compareBtn = document.getElementById("compare");
  const studyBtn = document.getElementById("save-study");
  const selected = new Set();
  const params = () => new URLSearchParams(location.search);

  function syncForm() {
    const p = params();
    for (const name of ["q", "status", "owner"]) form.elements[name].value = p.get(name) || "";
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
    box.addEventListener("change", () => { box.checked ? selected.add(run.id) : selected.delete(run.id); compareBtn.disabled = studyBtn.disabled = selected.size < 1; });
    const tdBox = document.createElement("td"); tdBox.append(box); tr.append(tdBox);
    const tdName = document.createElement("td"); tdName.append(cnn.el("a", run.name, { href: `/runs/${run.id}` })); tr.append(tdName);
    const tdStatus = cnn.statusCell(run.status);
    if (run.status === "running" && run.progress) {
      const p = run.progress, bar = cnn.el("progress", null, { max: p.batches, class: "row-progress",
        title: `epoch ${p.epoch} of ${run.epochs}: ${p.batch} of ${p.batches} batches, ${Math.round(p.images_per_s)} images/s` });
      bar.value = p.batch;
      tdStatus.append(" ", bar, cnn.el("small", ` ep ${p.epoch}/${run.epochs}`));
    }
    tr.append(tdStatus);
    tr.append(cnn.el("td", run.architecture));
    const best = run.best_test_acc === null ? "–" : `${cnn.pct(run.best_test_acc)} (ep ${run.best_epoch})`;
    for (const v of [cnn.int(run.params), cnn.int(run.macs), best, cnn.pct(run.last_train_acc), cnn.pct(run.last_test_acc),
      run.train_test_gap === null ? "–" : (100 * run.train_test_gap).toFixed(1) + " pt", cnn.duration(run.train_seconds)]) {
      tr.append(cnn.el("td", v, { class: "num" }));
    }
    tr.append(cnn.el("td", run.owner));
    tr.append(cnn.el("td", new Date(run.created_at).toLocaleString()));
    return tr;
  }

  async function load() {
    const p = params();
    const page = Math.max(1, Number(p.get("page") || 1));
    const query = new URLSearchParams({ limit: PAGE, offset: (page - 1) * PAGE, sort: p.get("sort") || "-created_at" });
    for (const k of ["q", "status", "owner", "sweep"]) if (p.get(k)) query.set(k, p.get(k));
    const r = await cnn.api("GET", "/api/runs?" + query);
    if (!r.ok) return;
    tbody.replaceChildren(...r.data.data.map(row));
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
  compareBtn.addEventListener("click", () => { location.href = "/compare?ids=" + [...selected].join(","); });
  studyBtn.addEventListener("click", async () => {
    // the ticked runs' configs become the study's entries, the runs themselves its first launch
    const name = document.getElementById("study-name").value.trim() || `${selected.size} runs`;
    const r = await cnn.api("POST", "/api/studies", { name, run_ids: [...selected] });
    if (r.ok) { location.href = `/studies/${r.data.id}`; return; }
    cnn.showApiErrors(form, r);
  });
  window.addEventListener("popstate", () => { syncForm(); load(); });
  let reload = null;
  const soon = () => { clearTimeout(reload); reload = setTimeout(load, 300); };
  const source = new EventSource("/api/runs/events");
  source.addEventListener("run", (e) => {
    const run = JSON.parse(e.data);
    const old = tbody.querySelector(`tr[data-run-id="${run.id}"]`);
    if (old) { old.replaceWith(row(run)); document.body.dataset.updates = String(Number(document.body.dataset.updates || 0) + 1); }
    else soon(); // a new run, or one this page does not show yet: the list is read again once
  });
  source.addEventListener("deleted", soon);
  syncForm();
  load();
})();
