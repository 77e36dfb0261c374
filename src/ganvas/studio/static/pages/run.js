// A run: status, progress and ETA while it trains, loss and quality curves, grids over time, alarms, config,
// checkpoints and the log's tail; stop, resume and delete. Live over /api/runs/NAME/stream.
import { LineChart } from "../charts.js";
import { api, banner, clearBanners, duration, el, fmt, post, runUrl, statusBadge } from "../util.js";

const ACTIVE = ["queued", "starting", "training"];
const LOG_LINES = 400;

export async function show(page, [name], _params, info) {
  if (!name) { location.hash = "#/"; return null; }
  await api(runUrl(name)); // a run that is not there says so here, before the page is built
  const title = el("h1", { text: name });
  const badge = el("span", { class: "status" });
  const meta = el("p", { class: "meta" });
  const progress = el("progress", { max: 1, value: 0 });
  const progressText = el("span", { class: "progress-text" });
  const alarms = el("div", { class: "alarms" });
  const jobError = el("p", { class: "error-text", hidden: true });
  const stopButton = el("button", { class: "danger", text: "Stop", onclick: () => act("stop") });
  const resumeSteps = el("input", { type: "number", min: 1, step: 1, placeholder: "to step", class: "short",
                                    "aria-label": "resume to step" });
  const resumeButton = el("button", { text: "Resume", onclick: () => act("resume") });
  const deleteButton = el("button", { class: "danger subtle", text: "Delete", onclick: () => act("delete") });
  const exploreLink = el("a", { class: "button", href: `#/explore/${encodeURIComponent(name)}`, text: "Explore" });
  const enhanceLink = el("a", { class: "button", href: `#/enhance/${encodeURIComponent(name)}`, text: "Enhance",
                                hidden: true });
  const actions = el("div", { class: "actions" }, exploreLink, enhanceLink, stopButton, resumeSteps, resumeButton,
                     deleteButton);

  const lossBox = el("div", { class: "panel" });
  const qualityPick = el("select", { "aria-label": "quality measure" });
  const qualityBox = el("div", { class: "panel", hidden: true }, el("label", {}, "quality measure ", qualityPick));
  const gridImage = el("img", { class: "pixelated samples", alt: `samples of ${name}` });
  const gridSlider = el("input", { type: "range", min: 0, max: 0, value: 0, "aria-label": "grid at step" });
  const gridStep = el("span", { class: "muted" });
  const follow = el("input", { type: "checkbox", checked: true });
  const gridPanel = el("div", { class: "panel grids" }, el("h2", { text: "Grids over time" }), gridImage,
    el("div", { class: "slider" }, gridSlider, gridStep, el("label", {}, follow, " follow the latest")));
  const checkpointList = el("ul", { class: "checkpoints" });
  const configTable = el("table", { class: "config" });
  const logBox = el("pre", { class: "log", tabindex: 0 });

  page.append(
    el("div", { class: "page-head" }, el("div", {}, title, badge), actions),
    meta,
    el("div", { class: "progress" }, progress, progressText),
    alarms, jobError,
    el("div", { class: "columns" },
      el("div", {}, lossBox, qualityBox),
      gridPanel),
    el("div", { class: "columns" },
      el("div", { class: "panel" }, el("h2", { text: "Log" }), logBox),
      el("div", { class: "panel" }, el("h2", { text: "Checkpoints" }), checkpointList,
         el("details", {}, el("summary", { text: "Config" }), configTable))));

  const losses = new LineChart(lossBox, { title: "Losses", series: ["d_loss", "g_loss"] });
  const quality = new LineChart(qualityBox, { title: "Quality", series: [] });
  let qualityRows = [];
  let run = null;
  let samples = [];
  let rate = null; // steps per second, smoothed
  let lastProgress = null;

  async function act(kind) {
    try {
      if (kind === "delete") {
        if (!confirm(`Delete run ${name} and all its files?`)) return;
        await post(runUrl(name, "/delete"));
        location.hash = "#/";
        return;
      }
      if (kind === "resume") {
        const steps = resumeSteps.value ? Number(resumeSteps.value) : null;
        await post(runUrl(name, "/resume"), steps ? { steps } : {});
        banner(`resuming ${name}`, "info");
      }
      if (kind === "stop") {
        await post(runUrl(name, "/stop"));
        banner(`${name} stops at the next step and saves`, "info");
      }
    } catch (error) {
      banner(error.message);
    }
  }

  function showGrid(index) {
    if (!samples.length) { gridImage.removeAttribute("src"); gridStep.textContent = "no grids yet"; return; }
    index = Math.max(0, Math.min(samples.length - 1, index));
    gridSlider.max = String(samples.length - 1);
    gridSlider.value = String(index);
    const step = samples[index];
    const file = `step-${String(step).padStart(8, "0")}.png`;
    gridImage.src = runUrl(name, `/samples/${file}`);
    gridImage.dataset.step = String(step);
    gridStep.textContent = `step ${fmt(step)}`;
  }
  gridSlider.addEventListener("input", () => { follow.checked = false; showGrid(Number(gridSlider.value)); });
  follow.addEventListener("change", () => follow.checked && showGrid(samples.length - 1));

  function setSamples(steps) {
    const grew = steps.length !== samples.length;
    samples = steps;
    if (grew && follow.checked) showGrid(samples.length - 1);
    else if (!gridImage.src) showGrid(samples.length - 1);
    else gridSlider.max = String(Math.max(0, samples.length - 1));
  }

  function setQuality(rows) {
    qualityRows = rows;
    const keys = [...new Set(rows.flatMap((row) => Object.keys(row).filter((k) => k !== "step")))];
    qualityBox.hidden = keys.length === 0;
    if (!keys.length) return;
    const chosen = qualityPick.value || keys[0];
    if ([...qualityPick.options].map((o) => o.value).join() !== keys.join()) {
      qualityPick.replaceChildren(...keys.map((key) => el("option", { value: key, text: key })));
      qualityPick.value = keys.includes(chosen) ? chosen : keys[0];
    }
    if (quality.series[0] !== qualityPick.value) quality.setSeries([qualityPick.value]);
    quality.add(rows, true);
  }
  qualityPick.addEventListener("change", () => setQuality(qualityRows));

  function showProgress() {
    const target = run?.target_steps;
    const step = lastProgress?.step ?? run?.step ?? 0;
    progress.max = target || 1;
    progress.value = target ? Math.min(step, target) : 0;
    const parts = [`step ${fmt(step)}${target ? ` / ${fmt(target)}` : ""}`];
    if (run?.status === "training") {
      if (rate) parts.push(`${rate.toFixed(1)} steps/s`);
      let eta = target && rate ? (target - step) / rate : null;
      const limit = lastProgress?.minutes ? lastProgress.minutes * 60 - lastProgress.elapsed_s : null;
      if (limit !== null) eta = eta === null ? limit : Math.min(eta, limit);
      if (eta !== null) parts.push(`ETA ${duration(eta)}`);
    }
    progressText.textContent = parts.join(" · ");
  }

  function setRun(detail) {
    run = detail;
    badge.className = `status status-${detail.status}`;
    badge.textContent = detail.status;
    page.dataset.status = detail.status;
    meta.textContent = [detail.preset, detail.model, detail.dataset].filter(Boolean).join(" · ");
    const active = ACTIVE.includes(detail.status);
    stopButton.hidden = !active;
    stopButton.disabled = Boolean(detail.job?.stop_requested && active);
    stopButton.textContent = stopButton.disabled ? "Stopping…" : detail.status === "queued" ? "Cancel" : "Stop";
    resumeButton.hidden = resumeSteps.hidden = active || !(detail.checkpoints || []).length;
    deleteButton.hidden = active;
    const translator = detail.task && detail.task !== "generate";  // image-to-image: nothing to explore, only enhance
    exploreLink.hidden = !(detail.checkpoints || []).length || translator;
    enhanceLink.hidden = !(detail.checkpoints || []).length || !(info?.enhance || translator);
    jobError.hidden = !(detail.job?.state === "failed" && detail.job.error);
    jobError.textContent = detail.job?.error || "";
    clearBanners("alarm");
    alarms.replaceChildren(...Object.entries(detail.alarms || {}).map(([key, text]) =>
      el("div", { class: "banner alarm", role: "alert", dataset: { alarm: key } }, el("strong", { text: "Alarm: " }), text)));
    checkpointList.replaceChildren(...(detail.checkpoints || []).map((item) =>
      el("li", { dataset: { checkpoint: item.name } }, el("code", { text: item.name }), ` step ${fmt(item.step)}`)));
    if (!(detail.checkpoints || []).length) checkpointList.append(el("li", { class: "muted", text: "none yet" }));
    configTable.replaceChildren(...Object.entries(detail.config || {}).filter(([, v]) => v !== null && v !== "")
      .map(([key, value]) => el("tr", {}, el("th", { text: key }), el("td", { text: String(value) }))));
    setSamples(detail.samples || []);
    showProgress();
  }

  function addLog(lines) {
    const text = (logBox.textContent ? logBox.textContent + "\n" : "") + lines.join("\n");
    const kept = text.split("\n").slice(-LOG_LINES);
    const atBottom = logBox.scrollTop + logBox.clientHeight >= logBox.scrollHeight - 4;
    logBox.textContent = kept.join("\n");
    if (atBottom) logBox.scrollTop = logBox.scrollHeight;
  }

  function onEvent(event) {
    switch (event.event) {
      case "started":
        rate = null; lastProgress = null;
        if (!event.resumed) { losses.add([], true); setQuality([]); }
        break;
      case "progress":
        if (lastProgress && event.elapsed_s > lastProgress.elapsed_s && event.step > lastProgress.step) {
          const now = (event.step - lastProgress.step) / (event.elapsed_s - lastProgress.elapsed_s);
          rate = rate ? 0.7 * rate + 0.3 * now : now;
        }
        lastProgress = event;
        if (run) { run.target_steps = event.target_steps ?? run.target_steps; run.step = event.step; }
        showProgress();
        break;
      case "stats":
        losses.add([{ step: event.step, ...event.stats }]);
        break;
      case "quality":
        setQuality([...qualityRows.filter((row) => row.step !== event.step), { step: event.step, ...event.quality }]);
        break;
      case "samples":
        setSamples([...new Set([...samples, event.step])].sort((a, b) => a - b));
        break;
      default:
        break;
    }
  }

  const source = new EventSource(runUrl(name, "/stream"));
  source.addEventListener("history", (message) => {
    const data = JSON.parse(message.data);
    losses.add(data.curves.stats, true);
    setQuality(data.curves.quality);
    logBox.textContent = "";
    addLog(data.log);
    setRun(data.run);
  });
  source.addEventListener("event", (message) => onEvent(JSON.parse(message.data)));
  source.addEventListener("log", (message) => addLog(JSON.parse(message.data)));
  source.addEventListener("run", (message) => setRun(JSON.parse(message.data)));
  source.addEventListener("gone", () => { source.close(); banner(`run ${name} was deleted`); });
  source.onerror = () => {
    if (source.readyState === EventSource.CLOSED) banner("lost the live updates; reload the page");
  };
  return { cleanup: () => { source.close(); losses.destroy(); quality.destroy(); } };
}
