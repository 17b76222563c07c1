"use strict";
// The new-run form: the layer table and the params/MACs meter follow every keystroke
// (POST /api/architectures/summary); an over-budget network cannot be submitted.
(() => {
  const form = document.getElementById("run-form");
  const $ = (id) => document.getElementById(id);
  const budget = Number(document.body.dataset.paramBudget);
  let presets = {}, withinBudget = false, timer = null, seq = 0, original = null; // original: "Run again" source config

  const numList = (text) => text.split(",").map((s) => s.trim()).filter(Boolean).map(Number);
  const stagesOf = (text) => text.split("/").map((s) => numList(s));
  const optNum = (id) => ($(id).value === "" ? null : Number($(id).value));

  function architecture() {
    const family = $("family").value;
    const arch = { family, name: $("preset").dataset.edited === "1" ? "custom" : $("preset").value || "custom", stages: stagesOf($("stages").value) };
    if (family === "plain") {
      Object.assign(arch, { batch_norm: $("batch_norm").value, hidden: numList($("hidden").value),
        dropout_input: Number($("dropout_input").value || 0), dropout_hidden: Number($("dropout_hidden").value || 0) });
    } else if (family === "compact") {
      Object.assign(arch, { residual: $("residual").checked, dropout: Number($("dropout").value || 0),
        stem: Number($("stem").value || 0), activation: $("activation").value, pool_at: $("pool_at").value });
    } else { // resnet
      Object.assign(arch, { dropout: Number($("dropout").value || 0), stem: Number($("stem").value || 0),
        activation: $("activation").value });
    }
    return arch;
  }

  function fillArchitecture(a) {
    $("family").value = a.family;
    $("stages").value = a.stages.map((s) => s.join(",")).join(" / ");
    if (a.family === "plain") {
      $("batch_norm").value = a.batch_norm; $("hidden").value = a.hidden.join(", ");
      $("dropout_input").value = a.dropout_input; $("dropout_hidden").value = a.dropout_hidden;
    } else {
      $("dropout").value = a.dropout; $("stem").value = a.stem || 0; $("activation").value = a.activation;
      if (a.family === "compact") { $("residual").checked = a.residual; $("pool_at").value = a.pool_at || "first"; }
    }
    form.className = a.family;
  }

  function fillConfig(c) {
    const set = (id, v) => { if (v !== undefined && v !== null) $(id).value = v; };
    set("epochs", c.epochs); set("batch_size", c.batch_size); set("optimizer", c.optimizer); set("lr", c.lr);
    set("schedule", c.schedule); set("weight_decay", c.weight_decay); set("label_smoothing", c.label_smoothing);
    set("seed", c.seed); set("time_budget", c.time_budget_s); set("patience", c.early_stopping_patience);
    if (c.data) { set("data_source", c.data.source); set("train_limit", c.data.train_limit); set("test_limit", c.data.test_limit); }
    if (c.augment) {
      $("crop").checked = c.augment.crop; $("flip").checked = c.augment.flip; set("cutout", c.augment.cutout);
      $("alternate_flip").checked = !!c.augment.alternate_flip;
    }
    set("ema_epochs", c.ema_epochs);
    flipChanged();
    $("tta").checked = !!c.tta; set("tta_shift", c.tta_shift); $("whiten_init").checked = !!c.whiten_init;
    $("tta_each_epoch").checked = c.tta_each_epoch !== false;
  }

  async function refresh() {
    const mine = ++seq;
    const r = await cnn.api("POST", "/api/architectures/summary", { architecture: architecture() });
    if (mine !== seq) return; // a newer keystroke already asked
    const msg = $("budget-msg");
    if (!r.ok) {
      withinBudget = false;
      cnn.showErrors(form, r.data.detail.map((d) => ({ field: "config." + d.field, message: d.message })));
      msg.textContent = "Fix the architecture to see its size."; msg.className = "budget over";
      $("submit").disabled = true;
      return;
    }
    cnn.showErrors(form, []);
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

  // alternating is a way to flip: it is offered only while the flip is on
  function flipChanged() {
    $("alternate_flip").disabled = !$("flip").checked;
    if (!$("flip").checked) $("alternate_flip").checked = false;
  }
  $("flip").addEventListener("change", flipChanged);

  const schedule = () => { clearTimeout(timer); timer = setTimeout(refresh, 120); };
  for (const id of ["family", "stages", "batch_norm", "hidden", "dropout_input", "dropout_hidden", "residual", "dropout", "stem", "activation", "pool_at"]) {
    $(id).addEventListener("input", () => { $("preset").dataset.edited = "1"; form.className = $("family").value; schedule(); });
  }
  // a resnet needs a stem (compact's 0 = none is refused): switching to it offers ResNet-20's
  $("family").addEventListener("input", () => { if ($("family").value === "resnet" && !Number($("stem").value)) $("stem").value = 16; });
  $("preset").addEventListener("change", () => { $("preset").dataset.edited = "0"; fillArchitecture(presets[$("preset").value]); schedule(); });

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!withinBudget) return;
    const config = {
      architecture: architecture(), epochs: Number($("epochs").value), batch_size: Number($("batch_size").value),
      optimizer: $("optimizer").value, lr: Number($("lr").value), schedule: $("schedule").value,
      weight_decay: Number($("weight_decay").value), label_smoothing: Number($("label_smoothing").value),
      augment: { crop: $("crop").checked, flip: $("flip").checked, cutout: Number($("cutout").value || 0),
        alternate_flip: $("alternate_flip").checked },
      ema_epochs: optNum("ema_epochs"),
      tta: $("tta").checked, tta_shift: Number($("tta_shift").value || 0), whiten_init: $("whiten_init").checked,
      tta_each_epoch: $("tta_each_epoch").checked,
      early_stopping_patience: optNum("patience"), seed: Number($("seed").value), time_budget_s: Number($("time_budget").value),
      data: { source: $("data_source").value, train_limit: optNum("train_limit"), test_limit: optNum("test_limit") },
    };
    if (original) { // keep what the form does not show (momentum, padding, precision, input size, ...)
      const arch = original.architecture.family === config.architecture.family ? { ...original.architecture, ...config.architecture } : config.architecture;
      Object.assign(config, { ...original, ...config, architecture: arch, augment: { ...original.augment, ...config.augment },
        data: { ...original.data, ...config.data } });
    }
    const body = { config };
    if ($("name").value.trim()) body.name = $("name").value.trim();
    $("submit").disabled = true;
    const r = await cnn.api("POST", "/api/runs", body);
    if (r.ok) { location.href = `/runs/${r.data.id}`; return; }
    $("submit").disabled = false;
    cnn.showErrors(form, r.data && r.data.detail ? (Array.isArray(r.data.detail) ? r.data.detail : [{ field: "form", message: r.data.detail }]) : []);
  });

  (async () => {
    const r = await cnn.api("GET", "/api/presets");
    for (const p of r.data.data) {
      presets[p.architecture] = p.description;
      $("preset").append(cnn.el("option", `${p.architecture} (${cnn.int(p.total_params)} params)`, { value: p.architecture }));
    }
    const from = new URLSearchParams(location.search).get("from");
    if (from) { // "Run again": the form prefilled from an earlier run
      const run = await cnn.api("GET", `/api/runs/${from}`);
      if (run.ok) {
        original = run.data.config;
        fillConfig(run.data.config); fillArchitecture(run.data.config.architecture);
        $("preset").value = presets[run.data.architecture] ? run.data.architecture : "";
        $("name").value = run.data.name + " (again)";
      }
    } else {
      $("preset").value = "compact"; fillArchitecture(presets.compact);
    }
    await refresh();
    document.body.dataset.ready = "1";
  })();
})();
