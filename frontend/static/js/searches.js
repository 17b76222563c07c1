// The searches list and the form that starts one from a shipped search (its space filled in, editable).
// The form's inputs are rendered from POST /api/searches's schema (searches.html); this script reads
// and fills every [data-field] by its data-kind, so the body it sends has every field of the schema.
"use strict";
(() => {
  const form = $("search-form"), space = $("space").querySelector("tbody");
  const fields = [...form.querySelectorAll("[data-field][data-kind]")];
  let presets = [], recipes = {}, keyTitles = {}; // keyTitles: an option name → its title

  async function list() {
    const r = await cnn.api("GET", "/api/searches?limit=200");
    const tbody = $("searches").querySelector("tbody");
    tbody.replaceChildren();
    for (const s of (r.data || { data: [] }).data) {
      const tr = document.createElement("tr"), name = cnn.el("td", null, { class: "name", title: s.name }), link = cnn.el("a", s.name, { href: `/searches/${s.id}` });
      name.append(link);
      tr.append(name, cnn.statusCell(s.status), cnn.el("td", `${s.counts.trials} / ${s.n_trials}`, { class: "num" }),
        cnn.el("td", s.counts.pruned, { class: "num" }), cnn.el("td", s.counts.infeasible, { class: "num" }),
        cnn.el("td", s.best ? cnn.pct(s.best.best_val_acc ?? s.best.best_test_acc, 2) : "–", { class: "num" }),
        cnn.el("td", `${s.sampler} / ${s.pruner}`), cnn.el("td", s.owner));
      tbody.append(tr);
    }
    if (!tbody.children.length) {
      const tr = document.createElement("tr");
      tr.append(cnn.el("td", "No search yet.", { colspan: "8" }));
      tbody.append(tr);
    }
  }

  const kindOf = (entry) => ["float", "int", "choice"].find((k) => k in entry) || "float";

  function addRow(key, entry) {
    const tr = document.createElement("tr"), kind = kindOf(entry);
    const cell = (node) => { const td = document.createElement("td"); td.append(node); tr.append(td); return node; };
    const keyInput = cell(cnn.el("input", null, { list: "space-keys", "aria-label": "option", class: "space-key", size: "26" }));
    keyInput.value = key;
    // the row answers for its option's refusals (space.<option>…), named by the option's title
    const named = () => {
      const k = keyInput.value.trim();
      keyInput.dataset.field = `space.${k}`;
      keyInput.dataset.label = `Search space, ${keyTitles[k] || k || "new option"}`;
    };
    named();
    keyInput.addEventListener("input", named);
    const kindSelect = cell(cnn.el("select", null, { "aria-label": "kind", class: "space-kind" }));
    for (const k of ["float", "int", "choice"]) kindSelect.append(cnn.el("option", k, { value: k }));
    kindSelect.value = kind;
    const range = kind === "choice" ? ["", ""] : entry[kind];
    const low = cell(cnn.el("input", null, { "aria-label": "low", class: "space-low", size: "7" }));
    const high = cell(cnn.el("input", null, { "aria-label": "high", class: "space-high", size: "7" }));
    low.value = range[0]; high.value = range[1];
    const step = cell(cnn.el("input", null, { "aria-label": "step", class: "space-step", size: "4" }));
    step.value = entry.step ?? "";
    const log = cell(cnn.el("input", null, { type: "checkbox", "aria-label": "log", class: "space-log" }));
    log.checked = Boolean(entry.log);
    const choices = cell(cnn.el("input", null, { "aria-label": "choices", class: "space-choices", size: "22" }));
    choices.value = kind === "choice" ? entry.choice.map((v) => JSON.stringify(v).replace(/^"(.*)"$/, "$1")).join(", ") : "";
    const remove = cell(cnn.el("button", "Remove", { type: "button" }));
    remove.addEventListener("click", () => tr.remove());
    space.append(tr);
  }

  const number = (s) => (s.trim() === "" ? null : Number(s));
  const parseChoice = (s) => { try { return JSON.parse(s); } catch (e) { return s; } };

  function readSpace() {
    const out = {};
    for (const tr of space.children) {
      const key = tr.querySelector(".space-key").value.trim();
      if (!key) continue;
      const kind = tr.querySelector(".space-kind").value;
      if (kind === "choice") {
        out[key] = { choice: tr.querySelector(".space-choices").value.split(",").map((v) => v.trim()).filter(Boolean).map(parseChoice) };
        continue;
      }
      const entry = { [kind]: [number(tr.querySelector(".space-low").value), number(tr.querySelector(".space-high").value)] };
      const step = number(tr.querySelector(".space-step").value);
      if (step !== null) entry.step = step;
      if (tr.querySelector(".space-log").checked) entry.log = true;
      out[key] = entry;
    }
    return out;
  }

  // one field's value shown in its input; a field the preset leaves out gets its schema default
  function setField(node, value) {
    const kind = node.dataset.kind, empty = value === null || value === undefined;
    if (kind === "space") { space.replaceChildren(); for (const [key, entry] of Object.entries(value || {})) addRow(key, entry); }
    else if (kind === "choices") node.querySelectorAll("select").forEach((s, i) => { s.value = (value || [])[i] ?? ""; });
    else if (kind === "json") node.value = empty ? "" : JSON.stringify(value, null, 1);
    else if (kind === "bool") node.checked = Boolean(value);
    else node.value = empty ? "" : String(value);
  }

  // one field's value as the body takes it (an empty input: null); a JSON field that does not parse
  // throws {field, message}
  function readField(node) {
    const kind = node.dataset.kind, text = node.value === undefined ? "" : String(node.value).trim();
    if (kind === "space") return readSpace();
    if (kind === "choices") return [...node.querySelectorAll("select")].map((s) => s.value).filter(Boolean);
    if (kind === "bool") return node.checked;
    if (text === "" && kind !== "text") return null;
    if (kind === "int" || kind === "float") return Number(text);
    if (kind === "json") {
      try { return JSON.parse(text); } catch (err) { throw { field: node.dataset.field, message: `not valid JSON (${err.message})` }; }
    }
    return node.value;
  }

  function fill(preset) {
    $("search-preset-help").textContent = preset.description;
    for (const node of fields) {
      const name = node.dataset.field;
      setField(node, name in preset.body ? preset.body[name] : JSON.parse(node.dataset.default));
    }
    $("search-recipe").value = "";
  }

  async function start() {
    const [p, r, keys] = await Promise.all([cnn.api("GET", "/api/searches/presets"), cnn.api("GET", "/api/recipes"),
      cnn.api("GET", "/api/searches/space-keys")]);
    presets = p.data || [];
    recipes = Object.fromEntries(((r.data || {}).data || []).map((x) => [x.key, x]));
    for (const preset of presets) $("search-preset").append(cnn.el("option", preset.title, { value: preset.key }));
    for (const [key, recipe] of Object.entries(recipes)) $("search-recipe").append(cnn.el("option", recipe.title, { value: key }));
    for (const k of keys.data || []) keyTitles[k.key] = k.title;
    for (const k of keys.data || []) $("space-keys").append(cnn.el("option", null, { value: k.key, label: `${k.title} (${k.kind}; ${k.families.join(", ")})` }));
    if (presets.length) fill(presets[0]);
    await list();
    document.body.dataset.ready = "1";
  }

  $("search-preset").addEventListener("change", () => fill(presets.find((p) => p.key === $("search-preset").value)));
  $("search-recipe").addEventListener("change", () => {
    const recipe = recipes[$("search-recipe").value];
    if (!recipe) return;
    let base = {};
    try { base = JSON.parse($("search-base").value); } catch (e) { base = {}; }
    // the recipe's settings, keeping the base's network, data and trial length (a trial is short)
    $("search-base").value = JSON.stringify({ ...recipe.config, architecture: base.architecture || "compact", data: base.data,
      epochs: base.epochs || recipe.config.epochs, schedule_by: "epochs" }, null, 1);
  });
  $("space-add").addEventListener("click", () => addRow("", { float: ["", ""] }));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const body = {}, problems = [];
    for (const node of fields) {
      try { body[node.dataset.field] = readField(node); } catch (err) { problems.push(err); }
    }
    if (problems.length) { cnn.showErrors(form, problems); return; }
    $("search-start").disabled = true;
    const r = await cnn.api("POST", "/api/searches", body);
    $("search-start").disabled = false;
    if (r.ok) { location.href = `/searches/${r.data.id}`; return; }
    cnn.showApiErrors(form, r);
  });
  start();
})();
