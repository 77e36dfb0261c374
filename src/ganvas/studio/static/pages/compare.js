// Compare runs side by side: their grids at the same step (each run's latest grid at or before it) and their
// curves on one chart, a line per run, for the measure picked.
import { LineChart } from "../charts.js";
import { api, el, fmt, runUrl } from "../util.js";

export async function show(page, _rest, params) {
  const { runs } = await api("/api/runs");
  const available = runs.filter((run) => !["queued", "starting", "cancelled"].includes(run.status));
  const picked = (params.get("runs") || "").split(",").filter(Boolean).map(decodeURIComponent);
  const chosen = new Set(picked.length ? picked : available.slice(0, 2).map((run) => run.name));

  const picker = el("div", { class: "picker" }, ...available.map((run) => el("label", {},
    el("input", { type: "checkbox", value: run.name, checked: chosen.has(run.name), onchange: (event) => {
      event.target.checked ? chosen.add(run.name) : chosen.delete(run.name);
      location.hash = `#/compare?runs=${[...chosen].map(encodeURIComponent).join(",")}`;
    } }), ` ${run.name}`)));
  const stepSlider = el("input", { type: "range", id: "compare-step", min: 0, max: 0, value: 0,
                                   "aria-label": "step" });
  const stepText = el("span", { class: "muted" });
  const grids = el("div", { class: "side-by-side" });
  const metric = el("select", { id: "compare-metric", "aria-label": "measure" });
  const chartBox = el("div", { class: "panel" }, el("label", {}, "measure ", metric));
  page.append(el("div", { class: "page-head" }, el("h1", { text: "Compare" })), picker,
              el("div", { class: "panel" }, el("div", { class: "slider" }, el("span", { text: "step " }), stepSlider,
                                                stepText), grids),
              chartBox);
  if (available.length < 1) {
    grids.append(el("p", { class: "muted", text: "No runs to compare yet." }));
    return null;
  }

  const names = [...chosen].filter((name) => available.some((run) => run.name === name));
  const loaded = await Promise.all(names.map(async (name) => {
    const [detail, curves] = await Promise.all([api(runUrl(name)), api(runUrl(name, "/curves"))]);
    return { name, detail, curves };
  }));
  const steps = [...new Set(loaded.flatMap((run) => run.detail.samples))].sort((a, b) => a - b);
  stepSlider.max = String(Math.max(0, steps.length - 1));
  stepSlider.value = stepSlider.max;

  const cells = loaded.map((run) => {
    const image = el("img", { class: "pixelated", alt: `${run.name} samples` });
    const caption = el("figcaption");
    grids.append(el("figure", { dataset: { run: run.name } }, image, caption));
    return { run, image, caption };
  });
  function showStep() {
    const step = steps[Number(stepSlider.value)];
    stepText.textContent = step === undefined ? "no grids yet" : fmt(step);
    for (const { run, image, caption } of cells) {
      const at = run.detail.samples.filter((s) => s <= step).pop() ?? run.detail.samples[0];
      if (at === undefined) { image.removeAttribute("src"); caption.textContent = `${run.name}: no grids`; continue; }
      image.src = runUrl(run.name, `/samples/step-${String(at).padStart(8, "0")}.png`);
      caption.textContent = `${run.name} · step ${fmt(at)}`;
      image.dataset.step = String(at);
    }
  }
  stepSlider.addEventListener("input", showStep);
  showStep();

  const measures = [...new Set(loaded.flatMap((run) => [
    ...run.curves.stats.flatMap((row) => Object.keys(row)),
    ...run.curves.quality.flatMap((row) => Object.keys(row).map((key) => `quality: ${key}`))]))]
    .filter((key) => !["step", "epoch", "elapsed_s"].includes(key));
  const order = (key) => (key === "d_loss" ? 0 : key === "g_loss" ? 1 : key.startsWith("quality") ? 2 : 3);
  measures.sort((a, b) => order(a) - order(b) || a.localeCompare(b));
  metric.replaceChildren(...measures.map((key) => el("option", { value: key, text: key })));
  const chart = new LineChart(chartBox, { title: "Curves", series: names });
  function showChart() {
    const key = metric.value;
    const rows = new Map();
    for (const run of loaded) {
      const quality = key.startsWith("quality: ");
      const field = quality ? key.slice("quality: ".length) : key;
      for (const row of quality ? run.curves.quality : run.curves.stats) {
        if (row[field] === undefined) continue;
        rows.set(row.step, { ...(rows.get(row.step) || { step: row.step }), [run.name]: row[field] });
      }
    }
    chart.add([...rows.values()], true);
  }
  metric.addEventListener("change", showChart);
  showChart();
  return { cleanup: () => chart.destroy() };
}
