"use strict";
// One run: curves that grow live over its event stream (cnn.follow: EventSource reconnects by itself
// with Last-Event-ID), markers for the best epoch and the onset of overfitting, the seed-style log,
// layers, config. When the run finishes, the page's #run says so ("run-finished", read by try_it.js), as
// it says when the model is ready ("run-model", from the stream's `model` events) and hands over the class
// report ("run-evaluation"). Between the last epoch and the final status the page says "finishing"; it
// asks only for what the run has (its detail's has_evaluation and kept_checkpoints).
(() => {
  const root = document.getElementById("run");
  const runId = Number(root.dataset.runId);
  const metrics = new Map();
  let status = null, analysis = {}, drawPending = false;
  let lastRun = null, config = {}, modelStatus = null, ended = false;
  const FINISHED = cnn.FINISHED;
  const RUNNING = cnn.word("run_statuses", "running"), VAL = cnn.word("selected_on", "val");
  const EXPORTING = cnn.word("model_statuses", "exporting"), KINDS = cnn.words("checkpoint_kinds", "best", "last");

  // an epoch the time budget cut short (fraction < 1) gets an open marker and says so on hover
  const cut = (m) => m.fraction !== undefined && m.fraction < 1;
  function trace(rows, key, name, line, pct) {
    return { x: xOf(rows), y: rows.map((m) => m[key]), name, mode: "lines+markers", line,
      marker: { symbol: rows.map((m) => (cut(m) ? "circle-open" : "circle")), size: rows.map((m) => (cut(m) ? 11 : 6)) },
      text: rows.map((m) => (cut(m) ? `<br>${Math.round(100 * m.fraction)}% of the epoch (cut by the time budget)` : "")),
      hovertemplate: `${xHover()}: %{y:${pct ? ".1%" : ".3f"}}%{text}<extra>${name}</extra>` };
  }

  // --- charts people expect: the learning rate, a log-scale loss, a wall-clock x axis (issue 30) ---
  // view.time: x is the training time at the end of each epoch (the epochs' seconds summed), not the
  // epoch; view.log: the loss chart's y axis is logarithmic. Both apply to every epoch chart.
  const view = { time: false, log: false };
  let epochRows = [];
  function xOf(rows) {
    if (!view.time) return rows.map((m) => m.epoch);
    let total = 0;
    return rows.map((m) => (total += m.seconds));
  }
  const xHover = () => (view.time ? "%{x:,.0f} s" : "epoch %{x}");
  // where an epoch (a mark: the chosen epoch, the overfitting onset) falls on the x axis
  function xAt(epoch) {
    if (!view.time || !epoch) return epoch;
    const i = epochRows.findIndex((m) => m.epoch === epoch);
    return i < 0 ? null : xOf(epochRows)[i];
  }
  const axisOpts = () => (view.time ? { xseconds: true, xtitle: "training time (s)" } : { xtitle: "epoch" });
  function drawLr(rows, empty) {
    const lr = [{ x: xOf(rows), y: rows.map((m) => m.lr), name: "learning rate", mode: "lines+markers",
      line: { color: cnn.charts.color(3) }, hovertemplate: `${xHover()}: %{y:.4g}<extra>learning rate</extra>` }];
    cnn.charts.lines("lr-chart", lr, { title: "Learning rate", ytitle: "learning rate", legend: false, empty,
      epochs: lastRun ? lastRun.epochs : config.epochs, ...axisOpts() });
    root.dataset.chartX = view.time ? "time" : "epoch";
    root.dataset.lossScale = view.log ? "log" : "linear";
  }
  document.getElementById("loss-log").addEventListener("change", (e) => { view.log = e.target.checked; scheduleDraw(); });
  document.getElementById("chart-x").addEventListener("change", (e) => { view.time = e.target.value === "time"; scheduleDraw(); });

  // --- system metrics (issue 30): the worker's CPU, memory, GPU and images/s, from its heartbeats ---
  let systemRows = [], systemAsked = 0;
  const MIB = 1048576;
  async function refreshSystem() {
    systemAsked = Date.now();
    let r;
    try { r = await cnn.api("GET", `/api/runs/${runId}/system`); } catch (e) { return; }
    if (!r.ok) return;
    systemRows = r.data.data;
    drawSystem();
  }
  // while the run trains: again at most every 10 s (its status events come with every heartbeat)
  function systemTick(run) {
    if (run.status === RUNNING && Date.now() - systemAsked > 10000) refreshSystem();
  }
  function drawSystem() {
    const rows = systemRows, at = rows.map((s) => s.at_s), c = cnn.charts.color;
    const has = (key) => rows.some((s) => s[key] !== null && s[key] !== undefined);
    const series = (key, name, color, scale, fmt, unit) => ({ x: at, y: rows.map((s) => (s[key] === null ? null : s[key] / scale)),
      name, mode: "lines", line: { color }, hovertemplate: `%{x:,.0f} s: %{y:${fmt}}${unit}<extra>${name}</extra>` });
    const empty = status === cnn.word("run_statuses", "queued") ? "Waiting for a worker: sampled while the run trains."
      : FINISHED.has(status) ? "No system metrics were recorded for this run." : "Waiting for the first sample…";
    const opts = { xseconds: true, xtitle: "training time (s)", empty, yZero: true };
    const use = [series("cpu_percent", "CPU (worker process)", c(0), 1, ".0f", "%")];
    if (has("gpu_util")) use.push(series("gpu_util", "GPU utilisation", c(1), 1, ".0f", "%"));
    cnn.charts.lines("system-use", use, { ...opts, title: "CPU and GPU use", ytitle: "% (100 = one CPU core)" });
    const mem = [series("rss_bytes", "process memory", c(2), MIB, ",.0f", " MiB")];
    if (has("gpu_mem_bytes")) mem.push(series("gpu_mem_bytes", "GPU memory", c(1), MIB, ",.0f", " MiB"));
    cnn.charts.lines("system-mem", mem, { ...opts, title: "Memory", ytitle: "MiB" });
    cnn.charts.lines("speed-chart", [series("images_per_s", "images/s", c(4), 1, ",.0f", " images/s")],
      { ...opts, title: "Training speed", ytitle: "images/s", legend: false });
    document.getElementById("system-facts").textContent = rows.length
      ? `(${rows.length} samples${has("gpu_util") || has("gpu_mem_bytes") ? "" : "; no GPU figures: trained on a CPU"})` : "";
    root.dataset.systemPoints = String(rows.length);
  }

  function draw() {
    drawPending = false;
    const rows = [...metrics.values()].sort((a, b) => a.epoch - b.epoch);
    const hasVal = rows.some((m) => m.val_acc !== null && m.val_acc !== undefined);
    const onVal = analysis.selected_on === VAL;
    // the charts (cnn.charts): the chosen epoch and the onset of overfitting marked; before the first
    // epoch a placeholder that says why there is nothing yet
    epochRows = rows;
    const marks = [{ x: xAt(analysis.best_epoch), label: onVal ? "chosen on validation" : "chosen on test", tone: "ok" },
      { x: xAt(analysis.overfit_epoch), label: "overfits", tone: "bad" }];
    const c = cnn.charts.color;
    // a run with test_each_epoch off (a search's trial) reads the test set once, at its end: no test curve
    const endOnly = config.test_each_epoch === false;
    const acc = [trace(rows, "train_acc", "train", { dash: "dash", color: c(0) }, true)];
    const loss = [trace(rows, "train_loss", "train", { dash: "dash", color: c(1) }, false)];
    if (!endOnly) {
      acc.push(trace(rows, "test_acc", "test", { color: c(0) }, true));
      loss.push(trace(rows, "test_loss", "test", { color: c(1) }, false));
    }
    if (hasVal) {
      acc.push(trace(rows, "val_acc", "validation", { dash: "dot", color: c(2) }, true));
      loss.push(trace(rows, "val_loss", "validation", { dash: "dot", color: c(2) }, false));
    }
    const empty = status === cnn.word("run_statuses", "queued") ? "Waiting for the first epoch: the run is queued for a worker."
      : FINISHED.has(status) ? `No epoch was recorded (run ${status}).` : "Waiting for the first epoch…";
    const opts = { marks, empty, epochs: lastRun ? lastRun.epochs : config.epochs, ...axisOpts(),
      subtitle: endOnly ? "train dashed, validation dotted; test read at the end"
        : hasVal ? "train dashed, validation dotted, test solid" : "train dashed, test solid" };
    cnn.charts.lines("acc-chart", acc, { ...opts, title: "Accuracy", ytitle: "accuracy", pct: true });
    cnn.charts.lines("loss-chart", loss, { ...opts, title: "Loss", ytitle: view.log ? "loss (log scale)" : "loss", ylog: view.log });
    drawLr(rows, empty);
    document.getElementById("log").textContent = rows.map(cnn.seedLine).join("\n");
    root.dataset.points = String(rows.length);
    const m = [], held = onVal ? "validation" : "test";
    if (analysis.best_epoch) {
      m.push(onVal ? `Epoch ${analysis.best_epoch} chosen on validation (its best validation accuracy); the test set only reports.`
        : `Epoch ${analysis.best_epoch} chosen on test (no validation split): its test figure is optimistic.`);
    }
    if (endOnly) m.push("This run reads the test set once, when training ends, with the chosen epoch's weights: its epochs have no test figure.");
    m.push(analysis.overfit_epoch ? `Overfitting starts after epoch ${analysis.overfit_epoch}: ${held} accuracy stops rising while train accuracy keeps rising.` : "No overfitting onset detected yet.");
    const short = rows.filter(cut);
    if (short.length) {
      root.dataset.cutEpoch = String(short[short.length - 1].epoch);
      m.push(short.map((c) => `Epoch ${c.epoch} was cut by the time budget at ${Math.round(100 * c.fraction)}% of the epoch (open marker).`).join(" "));
    }
    document.getElementById("markers").textContent = m.join(" ");
  }
  const scheduleDraw = () => { if (!drawPending) { drawPending = true; requestAnimationFrame(draw); } };

  // read again after each epoch, in the background: while the backend is unreachable (a restart) the
  // request fails and is dropped — the event stream reconnects, and the next epoch asks again
  async function refreshAnalysis() {
    let r;
    try { r = await cnn.api("GET", `/api/runs/${runId}/analysis`); } catch (e) { return; }
    if (r.ok) { analysis = r.data; scheduleDraw(); }
  }

  async function showClasses() {
    const r = await cnn.api("GET", `/api/runs/${runId}/evaluation`);
    if (!r.ok) return;
    const e = r.data;
    document.getElementById("classes").hidden = false;
    document.getElementById("eval-epoch").textContent = `(weights of epoch ${e.epoch}, ${cnn.pct(e.accuracy)} overall, test-time views: ${e.views})`;
    cnn.classReport(document.getElementById("confusion"), document.getElementById("per-class"), document.getElementById("gallery"), e);
    root.dataset.classes = "1";
    root.evaluation = e;  // try_it.js draws its random test images from it
    root.dispatchEvent(new CustomEvent("run-evaluation", { detail: e }));
  }

  // Training is over but the run is not ended yet: the worker evaluates the chosen weights and exports
  // the model. Known once the last planned epoch arrived, or an epoch the time budget cut, or the
  // early stop's patience ran out; a run asked to cancel is stopping.
  function finishing(run) {
    if (run.status !== RUNNING) return false;
    const last = Math.max(0, ...metrics.keys()), m = metrics.get(last);
    const patience = config.early_stopping_patience;
    return run.epochs_done >= run.epochs || Boolean(m && m.fraction !== undefined && m.fraction < 1)
      || Boolean(patience && run.best_epoch && last - run.best_epoch >= patience);
  }
  function showPhase(run) {
    const phase = run.status === RUNNING && run.cancel_requested ? "cancelling" : finishing(run) ? "finishing"
      : FINISHED.has(run.status) && modelStatus === EXPORTING ? "exporting" : "";
    const text = {
      cancelling: "Cancel asked: the worker stops at its next step; the epochs done so far are kept.",
      finishing: "Finishing: training is over; the worker evaluates the chosen epoch's weights on the test set and exports the model.",
      exporting: "Finished; exporting the model for Try it…",
    }[phase];
    $("phase").textContent = text || "";
    $("phase").hidden = !phase;
    root.dataset.phase = phase;
  }

  // the checkpoint links: the kinds the run keeps (its detail says so); from a stream's status, which
  // does not list them, a training run's once it has an epoch
  function showCheckpoints(run) {
    const kept = run.kept_checkpoints;
    if (!kept && FINISHED.has(run.status)) return;  // the detail read when it ended says
    for (const kind of KINDS) $(`ckpt-${kind}`).hidden = kept ? !kept.includes(kind) : run.epochs_done === 0;
    if (run.checkpoints_removed) { $("ckpt-removed").textContent = run.checkpoints_removed; $("ckpt-removed").hidden = false; }
  }

  // a queued run's place in the queue and when it should start (RunPublic.queue; its stream re-sends
  // it every few seconds while it waits)
  function showQueue(run) {
    const box = $("queue-place"), q = run.status === cnn.word("run_statuses", "queued") ? run.queue : null;
    box.hidden = !q;
    box.textContent = q ? `Queued: ${cnn.queueText(q)}` : "";
    root.dataset.queuePosition = q ? String(q.position) : "";
  }

  function showStatus(run) {
    status = run.status;
    lastRun = run;
    document.getElementById("run-name").textContent = run.name;
    cnn.statusBadge(document.getElementById("run-status"), run.status);
    document.getElementById("run-facts").textContent =
      `${run.architecture} · ${cnn.int(run.params)} params · ${cnn.int(run.macs)} MACs · owner ${run.owner} · epoch ${run.epochs_done} of ${run.epochs}` +
      (run.holdout ? ` · ${cnn.int(run.holdout)} validation images held out` : " · no validation split") +
      (run.seed !== undefined && run.seed !== null ? ` · seed ${run.seed}` : "") +
      (run.worker_host ? ` · ${run.worker_host} (${run.device})` : "") + (run.attempt > 1 ? ` · attempt ${run.attempt}` : "");
    showHeadline(run);
    const trial = document.getElementById("run-search");
    trial.hidden = run.search_id === null;
    if (run.search_id !== null && !trial.children.length) {
      trial.append(`trial ${run.trial_number} of `, cnn.el("a", `search ${run.search_id}`, { href: `/searches/${run.search_id}` }));
    }
    document.getElementById("run-reason").textContent = (run.reason || "") +
      (run.cancelled_by ? ` (cancel asked by ${run.cancelled_by})` : "");
    const mine = cnn.mayChange(run.owner);
    document.getElementById("cancel").hidden = !mine;
    document.getElementById("cancel").disabled = FINISHED.has(run.status) || run.cancel_requested;
    document.getElementById("delete").hidden = !mine || !FINISHED.has(run.status);
    showPhase(run);
    showQueue(run);
    showProgress(run);
    showCheckpoints(run);
    // the charts' placeholder says what the run waits for (once its epochs were read: none yet)
    if (!metrics.size && document.body.dataset.ready) scheduleDraw();
  }

  // the headline: test accuracy of the epoch chosen on validation (or on test, said so); the best
  // test accuracy over epochs only as a reference
  function showHeadline(run) {
    const box = document.getElementById("headline"), main = document.getElementById("headline-main");
    box.hidden = run.test_acc_at_best_val === null;
    if (box.hidden) return;
    box.dataset.selectedOn = run.selected_on;
    main.textContent = `Test ${cnn.pct(run.test_acc_at_best_val)} at epoch ${run.best_epoch}, ${cnn.chosenOn(run.selected_on, run.holdout)}`;
    const ref = [];
    if (run.best_val_acc !== null) ref.push(`validation ${cnn.pct(run.best_val_acc)}`);
    if (run.final_test_acc !== null) ref.push(`final test ${cnn.pct(run.final_test_acc)}`);
    if (run.best_test_acc !== null) ref.push(`best test (chosen on test) ${cnn.pct(run.best_test_acc)}`);
    const refNode = document.getElementById("headline-ref");
    refNode.replaceChildren(" · " + ref.join(" · "));
    if (run.group_id !== null) {
      refNode.append(" · ", cnn.el("a", `group ${run.group_id}`, { href: `/?group=${run.group_id}` }));
    }
  }

  // progress inside the epoch, from the worker's last heartbeat: batches done, images/s, time left
  let batchSize = null, timeBudget = null;
  function showProgress(run) {
    const box = document.getElementById("progress-box"), p = run.progress;
    box.hidden = !(run.status === RUNNING && p) || finishing(run);  // no "about 1s left" once training is over
    if (box.hidden) return;
    const bar = document.getElementById("epoch-progress");
    bar.max = p.batches; bar.value = p.batch;
    const perImage = p.images_per_s > 0 ? 1 / p.images_per_s : null;
    const epochLeft = perImage && batchSize ? (p.batches - p.batch) * batchSize * perImage : null;
    const done = [...metrics.values()];
    const perEpoch = done.length ? done.reduce((a, m) => a + m.seconds, 0) / done.length : (perImage && batchSize ? p.batches * batchSize * perImage : null);
    let runLeft = epochLeft !== null && perEpoch !== null ? epochLeft + (run.epochs - p.epoch) * perEpoch : null;
    if (runLeft !== null && timeBudget) runLeft = Math.min(runLeft, Math.max(0, timeBudget - run.train_seconds - (p.batch / p.batches) * (perEpoch || 0)));
    document.getElementById("progress-text").textContent =
      `epoch ${p.epoch} of ${run.epochs}: batch ${p.batch} of ${p.batches} · ${Math.round(p.images_per_s).toLocaleString("en-US")} images/s` +
      (epochLeft !== null ? ` · about ${cnn.duration(Math.max(1, epochLeft))} left in this epoch` : "") +
      (runLeft !== null ? `, ${cnn.duration(Math.max(1, runLeft))} in the run` : "");
    document.getElementById("run").dataset.progress = `${p.epoch}:${p.batch}`;
  }

  // the run ended: its detail is read again (its class report and checkpoints exist now, or never will)
  async function runEnded() {
    if (ended) return;
    ended = true;
    refreshAnalysis();
    refreshSystem();
    const r = await cnn.api("GET", `/api/runs/${runId}`);
    if (r.ok) {
      showStatus(r.data);
      if (r.data.has_evaluation) await showClasses();
    }
    root.dispatchEvent(new CustomEvent("run-finished"));
  }

  function connect() {
    const since = Math.max(0, ...metrics.keys());
    cnn.follow(`/api/runs/${runId}/events?since_epoch=${since}`, {
      metric: (m) => { metrics.set(m.epoch, m); scheduleDraw(); refreshAnalysis(); if (lastRun) { showPhase(lastRun); showProgress(lastRun); } },
      model: (m) => {
        modelStatus = m ? m.status : null;
        if (lastRun) showPhase(lastRun);
        root.dispatchEvent(new CustomEvent("run-model", { detail: m }));  // Try it, as soon as the model is ready
      },
      status: (run) => {
        showStatus(run);
        systemTick(run);
        if (FINISHED.has(status)) runEnded();
      },
    }, { live: $("live"), until: () => FINISHED.has(status) && modelStatus !== EXPORTING });
  }

  // --- the config (issue 30): every option as path = value by group, compact; copy as JSON or as the
  // client's command (the run detail's config_view and cli_command, built by backend.runs.configs) ---
  const shownValue = (v) => (typeof v === "string" ? v : JSON.stringify(v));
  function showConfig(run) {
    $("config").textContent = JSON.stringify(run.config, null, 2);
    $("cli-command").textContent = run.cli_command || "";
    const groups = run.config_view || [];
    $("config-count").textContent = String(groups.reduce((n, g) => n + g.options.length, 0));
    $("config-view").replaceChildren(...groups.map((g) => {
      const part = cnn.el("div", null, { class: "config-group" });
      const table = cnn.el("table", null, { class: "kv" });
      table.append(cnn.el("caption", g.group));
      for (const o of g.options) {
        const tr = cnn.el("tr", null, { "data-path": o.path });
        tr.append(cnn.el("th", o.path, { scope: "row" }), cnn.el("td", shownValue(o.value)));
        table.append(tr);
      }
      part.append(table);
      return part;
    }));
  }
  cnn.copyButton($("copy-json"), $("config"));
  cnn.copyButton($("copy-cli"), $("cli-command"));

  document.getElementById("cancel").addEventListener("click", async () => {
    if (!confirm("Cancel this run? The worker stops at its next step; the epochs done so far are kept.")) return;
    const r = await cnn.api("POST", `/api/runs/${runId}/cancel`);
    if (r.ok) showStatus(r.data);
  });
  document.getElementById("delete").addEventListener("click", async () => {
    if (!confirm("Delete this run, its epochs and checkpoints?")) return;
    const r = await cnn.api("DELETE", `/api/runs/${runId}`);
    if (r.ok) window.location.assign("/");
  });

  (async () => {
    const run = await cnn.api("GET", `/api/runs/${runId}`);
    if (!run.ok) { document.getElementById("run-name").textContent = `Run ${runId} not found`; return; }
    config = run.data.config;
    batchSize = config.batch_size; timeBudget = config.time_budget_s;
    showStatus(run.data);
    showConfig(run.data);
    const s = await cnn.api("POST", "/api/architectures/summary", { architecture: run.data.config.architecture });
    if (s.ok) cnn.layerRows(document.querySelector("#layers tbody"), s.data.rows);
    const past = await cnn.api("GET", `/api/runs/${runId}/metrics`);
    for (const m of past.data.data) metrics.set(m.epoch, m);
    showPhase(run.data); showProgress(run.data);  // with its epochs known: finishing, or not
    await refreshAnalysis();
    draw();
    await refreshSystem();
    if (!FINISHED.has(run.data.status)) connect();
    else { ended = true; if (run.data.has_evaluation) showClasses(); }
    document.body.dataset.ready = "1";
  })();
})();
