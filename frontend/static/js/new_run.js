"use strict";
// The new-run form. Its inputs are rendered from the options' declaration (backend.training.options); this
// script reads and fills them in one generic pass over [data-field] by each input's data-kind, so
// it names no option. The layer table and the params/MACs meter follow every keystroke
// (POST /api/architectures/summary); an over-budget network cannot be submitted.
(() => {
  const form = document.getElementById("run-form");
  const budget = Number(document.body.dataset.paramBudget);
  const inputs = [...form.querySelectorAll('[data-field^="config."]')];
  const pathOf = (el) => el.dataset.field.slice("config.".length).split(".");
  const isArch = (el) => el.dataset.field.startsWith("config.architecture.");
  const familyInput = form.querySelector('[data-field="config.architecture.family"]');
  let presets = {}, recipes = {}, withinBudget = false, timer = null, seq = 0, original = null; // original: "Run again" source

  const numbers = (text) => text.split(",").map((s) => s.trim()).filter(Boolean).map(Number);
  const read = {
    bool: (el) => el.checked,
    int: (el) => (el.value.trim() === "" ? null : Number(el.value)),
    float: (el) => (el.value.trim() === "" ? null : Number(el.value)),
    choice: (el) => el.value,
    text: (el) => el.value,
    ints: (el) => numbers(el.value),
    stages: (el) => el.value.split("/").map(numbers),
  };
  const write = {
    bool: (el, v) => { el.checked = !!v; },
    ints: (el, v) => { el.value = v.join(", "); },
    stages: (el, v) => { el.value = v.map((s) => s.join(",")).join(" / "); },
  };
  const valueAt = (obj, path) => path.reduce((o, k) => (o === undefined || o === null ? undefined : o[k]), obj);
  function setAt(obj, path, value) {
    const last = path[path.length - 1];
    path.slice(0, -1).reduce((o, k) => (o[k] = o[k] || {}), obj)[last] = value;
  }
  // an architecture option belongs to some families; the others' are hidden and not sent
  const belongs = (el) => !isArch(el) || !el.closest("[data-families]")
    || el.closest("[data-families]").dataset.families.split(" ").includes(familyInput.value);

  function readConfig() {
    const config = {};
    for (const el of inputs) {
      if (!belongs(el)) continue;
      setAt(config, pathOf(el), read[el.dataset.kind](el));
    }
    const arch = config.architecture;
    arch.name = $("preset").dataset.edited === "1" ? "custom" : $("preset").value || "custom";
    return config;
  }

  function fill(config, only) { // only: "architecture" or "run" (everything else)
    for (const el of inputs) {
      if ((only === "architecture") !== isArch(el)) continue;
      const v = valueAt(config, pathOf(el));
      if (v === undefined) continue;
      (write[el.dataset.kind] || ((e, x) => { e.value = x === null ? "" : x; }))(el, v);
    }
    if (only === "architecture") showFamily();
    requirementsChanged();
  }

  function showFamily() {
    form.className = "run-form " + familyInput.value;
    for (const box of form.querySelectorAll("[data-families]")) box.hidden = !box.dataset.families.split(" ").includes(familyInput.value);
  }

  // an option that needs a yes/no option on (data-requires) is offered only while that one is on
  function requirementsChanged() {
    for (const el of form.querySelectorAll("[data-requires]")) {
      const needed = form.querySelector(`[data-field="${CSS.escape(el.dataset.requires)}"]`);
      el.disabled = !needed.checked;
      if (!needed.checked) el.checked = false;
    }
  }
  form.addEventListener("change", requirementsChanged);

  async function refresh() {
    const mine = ++seq;
    const r = await cnn.api("POST", "/api/architectures/summary", { architecture: readConfig().architecture });
    if (mine !== seq) return; // a newer keystroke already asked
    const msg = $("budget-msg");
    if (!r.ok) {
      withinBudget = false;
      cnn.showErrors(form, r.data.detail.map((d) => ({ field: "config." + d.field, message: d.message })), "config.architecture");
      msg.textContent = "Fix the architecture to see its size."; msg.className = "budget over";
      $("submit").disabled = true;
      return;
    }
    cnn.showErrors(form, [], "config.architecture");
    const s = r.data;
    withinBudget = s.budget.within_budget;
    $("param-meter").value = Math.min(s.total_params, budget);
    $("param-text").textContent = `${cnn.int(s.total_params)} / ${cnn.int(budget)}`;
    $("mac-text").textContent = cnn.int(s.total_macs);
    msg.textContent = s.budget.message;
    msg.className = withinBudget ? "budget" : "budget over";
    $("submit").disabled = !withinBudget;
    cnn.layerRows(document.querySelector("#layers tbody"), s.rows);
    document.body.dataset.summaryParams = s.total_params;
  }
  const schedule = () => { clearTimeout(timer); timer = setTimeout(refresh, 120); };

  let family = familyInput.value;
  for (const el of inputs.filter(isArch)) {
    el.addEventListener("input", () => { $("preset").dataset.edited = "1"; schedule(); });
  }
  // a new family: options still at the old family's default take the new one's (resnet's stem is 16, compact's 0 = none)
  familyInput.addEventListener("input", () => {
    for (const box of form.querySelectorAll("[data-defaults]")) {
      const defaults = JSON.parse(box.dataset.defaults), el = box.querySelector("[data-field]");
      if (!(familyInput.value in defaults)) continue;
      // the old family had no such option (its value is stale), or left it at its own default
      if (!(family in defaults) || JSON.stringify(read[el.dataset.kind](el)) === JSON.stringify(defaults[family])) {
        (write[el.dataset.kind] || ((e, x) => { e.value = x; }))(el, defaults[familyInput.value]);
      }
    }
    family = familyInput.value;
    showFamily();
  });
  $("preset").addEventListener("change", () => {
    $("preset").dataset.edited = "0";
    fill({ architecture: presets[$("preset").value] }, "architecture"); family = familyInput.value;
    schedule();
  });
  $("recipe").addEventListener("change", () => {
    const r = recipes[$("recipe").value];
    $("recipe-help").textContent = r ? r.description : "";
    if (r) fill(r.config, "run");
  });

  $("repeats").addEventListener("input", () => {
    const n = Number($("repeats").value);
    $("submit").textContent = Number.isInteger(n) && n > 1 ? `Start ${n} runs` : "Start run";
  });
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!withinBudget) return;
    const config = readConfig();
    if (original) { // keep what the form does not show for this family
      const arch = original.architecture.family === config.architecture.family ? { ...original.architecture, ...config.architecture } : config.architecture;
      Object.assign(config, { ...original, ...config, architecture: arch, augment: { ...original.augment, ...config.augment },
        data: { ...original.data, ...config.data } });
    }
    const body = { config };
    if ($("name").value.trim()) body.name = $("name").value.trim();
    const repeats = $("repeats").value.trim() === "" ? 1 : Number($("repeats").value);
    if (repeats !== 1) body.repeats = repeats; // out of its bounds (or not whole): the API's refusal shows beside the input
    $("submit").disabled = true;
    const r = await cnn.api("POST", "/api/runs", body);
    // one run: its page; repeats: the group's row in the runs list
    if (r.ok) { location.href = r.data.run_ids.length > 1 && r.data.group_id !== null ? `/?group=${r.data.group_id}` : `/runs/${r.data.id}`; return; }
    $("submit").disabled = false;
    cnn.showApiErrors(form, r);
  });

  (async () => {
    const [p, rs] = await Promise.all([cnn.api("GET", "/api/presets"), cnn.api("GET", "/api/recipes")]);
    for (const x of p.data.data) {
      presets[x.architecture] = x.description;
      $("preset").append(cnn.el("option", `${x.architecture} (${cnn.int(x.total_params)} params)`, { value: x.architecture }));
    }
    for (const r of rs.data.data) recipes[r.key] = r;
    const from = new URLSearchParams(location.search).get("from");
    if (from) { // "Run again": the form prefilled from an earlier run
      const run = await cnn.api("GET", `/api/runs/${from}`);
      if (run.ok) {
        original = run.data.config;
        fill(run.data.config, "architecture"); fill(run.data.config, "run");
        $("preset").value = presets[run.data.architecture] ? run.data.architecture : "";
        $("name").value = run.data.name + " (again)";
      }
    } else {
      $("preset").value = "compact"; fill({ architecture: presets.compact }, "architecture");
      $("recipe").value = "modern"; fill(recipes.modern.config, "run");
      $("recipe-help").textContent = recipes.modern.description;
    }
    family = familyInput.value;
    await refresh();
    document.body.dataset.ready = "1";
  })();
})();
