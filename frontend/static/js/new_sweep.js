"use strict";
// The new-sweep form. Its base config is the new-run form's inputs, filled, sized and read by new_run.js
// (cnn.runForm); this script adds the grid: one row per option varied, its values checked against the
// option's declaration (the form's data-options, rendered from backend.training.options: kind, bounds,
// choices), the count of points × repeats against the server's limit (data-max-runs, MAX_SWEEP_POINTS),
// and the cost before launch, from POST /api/sweeps/estimate (the one place it is computed).
(() => {
  const form = document.getElementById("sweep-form");
  const options = Object.fromEntries(JSON.parse(form.dataset.options).map((o) => [o.name, o]));
  const maxRuns = Number(form.dataset.maxRuns);
  const LISTS = new Set(["ints", "stages"]); // values that are lists themselves: separated by ";"
  let rowSeq = 0, timer = null, seq = 0;

  const numbers = (text) => text.split(",").map((s) => s.trim()).filter(Boolean).map(Number);
  const separator = (o) => (LISTS.has(o.kind) ? ";" : ",");
  const show = (o, v) => (v === null ? "none" : o.kind === "ints" ? v.join(",")
    : o.kind === "stages" ? v.map((s) => s.join(",")).join("/") : String(v));
  const inFamily = (o) => !o.families.length || o.families.includes(cnn.runForm.family());

  // a value typed in a row → the config's value, or throws the reason in words
  function parse(o, text) {
    if (o.nullable && /^(none|null|off)$/i.test(text)) return null;
    const bounded = (n) => {
      const low = o.minimum, high = o.maximum;
      if ((low !== null && (o.minimum_exclusive ? n <= low : n < low)) || (high !== null && (o.maximum_exclusive ? n >= high : n > high))) {
        throw new Error(`${text} is out of bounds: must be ${o.limits}`);
      }
      return n;
    };
    const whole = (n) => { if (!Number.isInteger(n)) throw new Error(`${text} is not a whole number`); return n; };
    switch (o.kind) {
      case "int": return bounded(whole(Number(text)));
      case "float": {
        const n = Number(text);
        if (!Number.isFinite(n)) throw new Error(`${text} is not a number`);
        return bounded(n);
      }
      case "bool":
        if (/^(yes|true|on|1)$/i.test(text)) return true;
        if (/^(no|false|off|0)$/i.test(text)) return false;
        throw new Error(`${text} is not yes or no`);
      case "choice":
        if (!o.choices.includes(text)) throw new Error(`${text} is not one of ${o.choices.join(", ")}`);
        return text;
      case "ints": return numbers(text).map(whole);
      case "stages": return text.split("/").map((stage) => numbers(stage).map(whole));
      default: return text;
    }
  }

  const rows = () => [...$("grid-rows").querySelectorAll(".grid-row")];

  // the grid the rows say, and what is wrong with them ({field, message} as the API names them)
  function readGrid() {
    const grid = {}, errors = [];
    for (const row of rows()) {
      const name = row.querySelector("select").value, input = row.querySelector("input");
      if (!name) {
        if (input.value.trim()) errors.push({ field: "grid", message: "pick the option these values are for" });
        continue;
      }
      const o = options[name], field = `grid.${name}`, values = [];
      if (!inFamily(o)) { errors.push({ field, message: `not an option of the ${cnn.runForm.family()} family` }); continue; }
      const pieces = input.value.split(separator(o)).map((s) => s.trim()).filter(Boolean);
      if (!pieces.length) { errors.push({ field, message: "needs at least one value" }); continue; }
      try {
        for (const piece of pieces) {
          const v = parse(o, piece);
          if (values.some((w) => JSON.stringify(w) === JSON.stringify(v))) throw new Error(`${piece} is there twice: it would train the same point twice`);
          values.push(v);
        }
        grid[name] = values;
      } catch (err) {
        errors.push({ field, message: err.message });
      }
    }
    if (!rows().some((row) => row.querySelector("select").value)) errors.push({ field: "grid", message: "vary at least one option" });
    return { grid, errors };
  }

  const repeats = () => ($("repeats").value.trim() === "" ? 1 : Number($("repeats").value));

  function body(grid, forEstimate = false) {
    const base = cnn.runForm.readConfig();
    // a network varied option by option is no longer the preset it started from
    if (Object.keys(grid).some((k) => k.startsWith("architecture."))) base.architecture.name = "custom";
    // the name costs nothing: an estimate needs none yet
    const name = $("name").value.trim() || (forEstimate ? "estimate" : "");
    return { name, base_config: base, grid, repeats: repeats() };
  }

  // the API names a grid point's refusal in the base config (base_config.lr): shown at the row that varies
  // it, else at the base config's input
  function located(detail, grid) {
    return detail.map((d) => {
      if (!d.field.startsWith("base_config.")) return d;
      const rest = d.field.slice("base_config.".length);
      const key = Object.keys(grid).find((k) => rest === k || rest.startsWith(k + ".") || rest.startsWith(k + "["));
      return { ...d, field: key ? `grid.${key}` : `config.${rest}` };
    });
  }

  function syncRow(row) {
    const select = row.querySelector("select"), input = row.querySelector("input"), help = row.querySelector("small");
    const o = options[select.value];
    input.dataset.field = o ? `grid.${o.name}` : "grid";
    input.placeholder = !o ? "" : o.kind === "stages" ? "24,24/32,32; 32,32/64,64" : o.kind === "ints" ? "220,120; 256"
      : o.kind === "bool" ? "yes, no" : o.kind === "choice" ? o.choices.join(", ") : "";
    help.textContent = !o ? "" : [o.help, o.limits && `(${o.limits}${o.unit ? ", " + o.unit : ""})`,
      o.kind === "choice" && `one of ${o.choices.join(", ")}`].filter(Boolean).join(" ");
  }

  function syncPickers() { // an option is varied by one row at most, and only where the family has it
    const used = rows().map((row) => row.querySelector("select").value);
    for (const row of rows()) {
      const select = row.querySelector("select");
      for (const opt of select.querySelectorAll("option[value]")) {
        if (!opt.value) continue;
        opt.disabled = !inFamily(options[opt.value]) || (opt.value !== select.value && used.includes(opt.value));
      }
    }
  }

  function addRow(name = "", text = "") {
    const n = ++rowSeq;
    const row = cnn.el("div", null, { class: "field grid-row" });
    const select = cnn.el("select", null, { id: `grid-option-${n}`, "aria-label": `Option to vary, row ${n}` });
    select.append(cnn.el("option", "— pick an option —", { value: "" }));
    const groups = {};
    for (const o of Object.values(options)) {
      if (!groups[o.group]) select.append(groups[o.group] = cnn.el("optgroup", null, { label: o.group }));
      groups[o.group].append(cnn.el("option", o.title + (o.unit ? ` (${o.unit})` : ""), { value: o.name }));
    }
    const input = cnn.el("input", null, { id: `grid-values-${n}`, type: "text", spellcheck: "false",
      "aria-label": `Values, row ${n}`, "aria-describedby": `grid-help-${n}` });
    const remove = cnn.el("button", "Remove", { type: "button", id: `grid-remove-${n}` });
    row.append(select, input, remove, cnn.el("small", null, { class: "help", id: `grid-help-${n}` }));
    $("grid-rows").append(row);
    select.value = name;
    input.value = text;
    select.addEventListener("change", () => { syncRow(row); if (!input.value.trim() && options[select.value]) input.focus(); });
    remove.addEventListener("click", () => { row.remove(); changed(); });
    syncRow(row);
    return row;
  }

  // the point count, the launch button and (a moment later) the estimate follow every change
  function counted() {
    const { grid, errors } = readGrid();
    const points = Object.values(grid).reduce((n, values) => n * values.length, 1), runs = points * repeats();
    const box = $("point-count");
    box.className = "count";
    if (errors.length) box.textContent = "Fix the grid above to count its points.";
    else if (!Number.isInteger(repeats())) box.textContent = "Seeds a point: a whole number.";
    else {
      box.textContent = `${cnn.int(points)} point${points === 1 ? "" : "s"} × ${repeats()} seed${repeats() === 1 ? "" : "s"} = ${cnn.int(runs)} run${runs === 1 ? "" : "s"}`
        + (runs > maxRuns ? `: over the limit of ${maxRuns} runs a sweep` : ` (at most ${maxRuns} a sweep)`);
      if (runs > maxRuns) box.className = "count error";
    }
    box.dataset.runs = errors.length ? "" : runs;
    return { grid, errors, ok: !errors.length && runs <= maxRuns && Number.isInteger(repeats()) };
  }

  function launchable(state = counted()) {
    $("submit").disabled = !state.ok || !cnn.runForm.withinBudget();
    return state;
  }

  async function estimate() {
    const mine = ++seq, state = counted(), out = $("estimate"), table = $("estimate-points");
    if (!state.ok) {
      out.textContent = "–"; out.className = "estimate"; table.hidden = true;
      return;
    }
    const r = await cnn.api("POST", "/api/sweeps/estimate", body(state.grid, true));
    if (mine !== seq) return; // a newer change already asked
    if (!r.ok) {
      const said = Array.isArray(r.data?.detail) ? located(r.data.detail, state.grid).map((d) => `${d.field}: ${d.message}`).join(" ")
        : `the estimate failed (${r.status})`;
      out.textContent = `No estimate: ${said}`; out.className = "estimate error"; table.hidden = true;
      return;
    }
    const e = r.data;
    out.textContent = e.summary; out.className = "estimate";
    out.dataset.runs = e.runs; out.dataset.seconds = e.seconds;
    table.querySelector("tbody").replaceChildren(...e.points.map((p) => {
      const tr = document.createElement("tr");
      tr.append(cnn.el("td", p.label), cnn.el("td", p.runs, { class: "num" }), cnn.el("td", p.epochs, { class: "num" }),
        cnn.el("td", cnn.duration(p.time_budget_s), { class: "num" }), cnn.el("td", cnn.duration(p.run_s), { class: "num" }),
        cnn.el("td", p.note, { class: "facts note" }));
      return tr;
    }));
    table.hidden = false;
  }

  function changed() {
    syncPickers();
    const state = launchable();
    cnn.showErrors(form, state.errors, "grid");
    clearTimeout(timer);
    timer = setTimeout(estimate, 250);
  }

  form.addEventListener("input", changed);
  form.addEventListener("change", changed);
  form.addEventListener("sized", () => launchable()); // the network's size was checked (new_run.js)
  $("grid-add").addEventListener("click", () => { addRow().querySelector("select").focus(); changed(); });

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const state = launchable();
    if (!state.ok) { cnn.showErrors(form, state.errors, "grid"); return; }
    const local = cnn.runForm.problems(); // base inputs whose text is no value (never sent as null)
    if (local.length) { cnn.showErrors(form, local); return; }
    $("submit").disabled = true;
    const r = await cnn.api("POST", "/api/sweeps", body(state.grid));
    if (r.ok) { location.href = `/sweeps/${r.data.id}`; return; }
    launchable();
    if (Array.isArray(r.data?.detail)) cnn.showErrors(form, located(r.data.detail, state.grid));
    else cnn.showApiErrors(form, r);
  });

  (async () => {
    await cnn.runForm.ready;
    for (const [name, values] of Object.entries(JSON.parse(form.dataset.startGrid))) {
      addRow(name, values.map((v) => show(options[name], v)).join(separator(options[name]) + " "));
    }
    syncPickers();
    launchable();
    await estimate();
    document.body.dataset.ready = "1";
  })();
})();
