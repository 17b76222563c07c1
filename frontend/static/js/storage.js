// The Storage section (templates/_storage.html): the caller's checkpoints and models, their largest
// runs and quota, the lab's total and disk; for admins every user's total and "collect garbage now".
"use strict";
(() => {
  const section = $("storage");
  if (!section) return;
  // bytes as people read them, in powers of 1000 as disks are sold: backend.storage.service.human_bytes
  const bytes = (n) => {
    if (n === null || n === undefined) return "–";
    if (n < 1000) return `${n} B`;
    let size = n, unit = "B";
    for (unit of ["kB", "MB", "GB", "TB", "PB"]) { size /= 1000; if (size < 1000) break; }
    return `${size.toFixed(1)} ${unit}`;
  };
  const num = (text) => cnn.el("td", text, { class: "num" });

  function runRow(r) {
    const tr = document.createElement("tr");
    tr.dataset.runId = r.id;
    const name = document.createElement("td");
    name.className = "name";
    name.title = r.name;
    name.append(cnn.el("a", r.name, { href: `/runs/${r.id}` }));
    tr.append(name, cnn.statusCell(r.status), num(bytes(r.checkpoint_bytes)), num(bytes(r.model_bytes)), num(bytes(r.total_bytes)));
    return tr;
  }

  function userRow(u) {
    const tr = document.createElement("tr");
    tr.dataset.username = u.username;
    tr.append(cnn.el("td", u.username), num(cnn.int(u.runs)), num(bytes(u.total_bytes)), num(u.quota_bytes === null ? "none" : bytes(u.quota_bytes)));
    return tr;
  }

  async function load() {
    const r = await cnn.api("GET", "/api/storage");
    if (!r.ok) { cnn.showApiErrors(section, r); return; }
    cnn.showErrors(section, []);
    const { me, runs, lab, users } = r.data;
    const quota = me.quota_bytes === null ? "no quota" : `of your quota of ${bytes(me.quota_bytes)} (${me.quota_source})`;
    $("storage-mine").textContent = `You keep ${bytes(me.total_bytes)} in ${cnn.int(me.runs)} ${me.runs === 1 ? "run" : "runs"} ` +
      `(checkpoints ${bytes(me.checkpoint_bytes)}, models ${bytes(me.model_bytes)}), ${quota}.`;
    const retention = lab.retention_days === null ? "every run keeps its checkpoints"
      : `runs finished over ${lab.retention_days} days ago keep ${lab.retention_keep === cnn.word("retention_keeps", "model") ? "only their model" : "their best and last checkpoints and their model"}`;
    $("storage-lab").textContent = `The lab keeps ${bytes(lab.total_bytes)} of checkpoints and models; ` +
      `the disk has ${bytes(lab.disk_free_bytes)} free of ${bytes(lab.disk_total_bytes)}. Retention: ${retention}.`;
    $("storage-runs").querySelector("tbody").replaceChildren(...runs.map(runRow));
    $("storage-no-runs").hidden = runs.length > 0;
    $("storage-users-box").hidden = users === null;
    if (users !== null) $("storage-users").querySelector("tbody").replaceChildren(...users.map(userRow));
    section.dataset.ready = "1";
  }

  $("storage-gc").addEventListener("click", async () => {
    const button = $("storage-gc");
    button.disabled = true;
    const r = await cnn.api("POST", "/api/storage/gc");
    button.disabled = false;
    if (!r.ok) { cnn.showApiErrors(section, r); return; }
    $("storage-gc-result").textContent = `${cnn.int(r.data.removed_files)} files removed, ${bytes(r.data.freed_bytes)} freed` +
      (r.data.trimmed_runs.length ? `; checkpoints of ${r.data.trimmed_runs.length} runs dropped by the retention` : "");
    load();
  });
  load();
})();
