"use strict";
// The new-run form. Its inputs are rendered from the options' declaration (backend.training.options); this
// script reads and fills them in one generic pass over [data-field] by each input's data-kind, so
// it names no option. The layer table and the params/MACs meter follow every keystroke
// (POST /api/architectures/summary); an over-budget network cannot be submitted.
// The new-sweep form shows the same inputs as its base config: there this script fills and sizes the
// form, and new_sweep.js reads it (cnn.runForm) and sends the sweep.
(() => {
  const form = document.querySelector("form.run-form");
  const runForm = form.id === "run-form"; // else the sweep form: new_sweep.js sends its own body
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
  // what a list input holds that is no whole number, as refusals the error display names by label
  // ("Stage 1, layer 2 width: "x" is not a whole number"): such text is never sent (it would arrive
  // as null)
  const WHOLE = /^[+-]?\d+$/;
  function unparsed(el) {
    const kind = el.dataset.kind, field = el.dataset.field, out = [];
    const check = (word, path) => { if (!WHOLE.test(word)) out.push({ field: path, message: `"${word}" is not a whole number` }); };
    const words = (text) => text.split(",").map((w) => w.trim()).filter(Boolean);
    if (kind === "stages") el.value.split("/").forEach((stage, i) => words(stage).forEach((w, j) => check(w, `${field}[${i}][${j}]`)));
    else if (kind === "ints") words(el.value).forEach((w, i) => check(w, `${field}[${i}]`));
    else if ((kind === "int" || kind === "float") && el.validity && el.validity.badInput) out.push({ field, message: "is not a number" });
    return out;
  }
  const problems = (only) => inputs.filter((el) => belongs(el) && (!only || only(el))).flatMap(unparsed);
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

  // an architecture that does not parse or build has no size: the last good one's table, meter and
  // counts leave the screen with it (never a stale size beside a refused network)
  function sizeUnknown() {
    withinBudget = false;
    const msg = $("budget-msg");
    msg.textContent = "Fix the architecture to see its size."; msg.className = "budget over";
    $("param-meter").value = 0; $("param-meter").classList.remove("over");
    $("param-text").textContent = "–"; $("param-text").classList.remove("over");
    $("mac-text").textContent = "–";
    document.querySelector("#layers tbody").replaceChildren();
    delete document.body.dataset.summaryParams;
    $("submit").disabled = true;
  }

  async function refresh() {
    const mine = ++seq;
    const local = problems(isArch);
    if (local.length) { sizeUnknown(); cnn.showErrors(form, local, "config.architecture"); return; }
    const r = await cnn.api("POST", "/api/architectures/summary", { architecture: readConfig().architecture });
    if (mine !== seq) return; // a newer keystroke already asked
    const msg = $("budget-msg");
    if (!r.ok) {
      sizeUnknown();
      cnn.showApiErrors(form, r, { prefix: "config.", scope: "config.architecture" });
      return;
    }
    cnn.showErrors(form, [], "config.architecture");
    const s = r.data;
    withinBudget = s.budget.within_budget;
    $("param-meter").value = Math.min(s.total_params, budget);
    $("param-meter").classList.toggle("over", !withinBudget); // red, not the browser's amber
    $("param-text").textContent = `${cnn.int(s.total_params)} / ${cnn.int(budget)}`;
    $("param-text").classList.toggle("over", !withinBudget);
    $("mac-text").textContent = cnn.int(s.total_macs);
    msg.textContent = s.budget.message;
    msg.className = withinBudget ? "budget" : "budget over";
    $("submit").disabled = !withinBudget;
    cnn.layerRows(document.querySelector("#layers tbody"), s.rows);
    document.body.dataset.summaryParams = s.total_params;
    form.dispatchEvent(new Event("sized")); // the sweep form re-checks its own conditions to launch
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

  if (runForm) $("repeats").addEventListener("input", () => {
    const n = Number($("repeats").value);
    $("submit").textContent = Number.isInteger(n) && n > 1 ? `Start ${n} runs` : "Start run";
  });
  if (runForm) form.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!withinBudget) return;
    const local = problems();
    if (local.length) { cnn.showErrors(form, local); return; }
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

  const ready = (async () => {
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
      // what the form starts from: the page's (data-preset, data-recipe), else a modern run of compact;
      // ?recipe=KEY (the runs page's first steps link them) picks the recipe
      const key = new URLSearchParams(location.search).get("recipe"), asked = key && Object.hasOwn(recipes, key) ? recipes[key] : null;
      const preset = form.dataset.preset || "compact", recipe = asked || recipes[form.dataset.recipe || "modern"];
      $("preset").value = preset; fill({ architecture: presets[preset] }, "architecture");
      $("recipe").value = recipe.key; fill(recipe.config, "run");
      $("recipe-help").textContent = recipe.description;
    }
    family = familyInput.value;
    await refresh();
    if (runForm) document.body.dataset.ready = "1";
  })();
  // what the sweep form reads: the config as these inputs say it, once they are filled
  cnn.runForm = { form, readConfig, ready, problems, withinBudget: () => withinBudget, family: () => familyInput.value };
})();
