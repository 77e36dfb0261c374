// Line charts on uPlot (vendor/uPlot.iife.min.js, the global `uPlot`): steps on x, one line per series.
import { el } from "./util.js";

const COLOURS = ["#e4572e", "#29a3a3", "#f3a712", "#7768ae", "#5aa02c", "#d1495b", "#2e86ab", "#a0a0a0"];

export class LineChart {
  // container: an element; series: names of the y values; rows are added as objects {step, name: value, ...}
  constructor(container, { title, series, height = 220, yLabel = "" }) {
    this.container = container;
    this.series = series;
    this.height = height;
    this.points = new Map(); // step -> row
    this.title = title;
    this.yLabel = yLabel;
    this.box = el("div", { class: "chart", dataset: { chart: title } });
    container.append(this.box);
    this.build();
    this.resize = () => this.plot?.setSize({ width: this.width(), height: this.height });
    window.addEventListener("resize", this.resize);
  }

  width() {
    return Math.max(280, this.box.clientWidth || this.container.clientWidth || 600);
  }

  build() {
    this.plot?.destroy();
    const options = {
      title: this.title, width: this.width(), height: this.height,
      scales: { x: { time: false } },
      axes: [{ label: "step", stroke: "#8a8f98", grid: { stroke: "#2a2e36" } },
             { label: this.yLabel, stroke: "#8a8f98", grid: { stroke: "#2a2e36" }, size: 60 }],
      series: [{ label: "step" },
               ...this.series.map((name, i) => ({ label: name, stroke: COLOURS[i % COLOURS.length], width: 2,
                                                   spanGaps: true, points: { show: false } }))],
    };
    this.plot = new uPlot(options, this.data(), this.box);
  }

  data() {
    const steps = [...this.points.keys()].sort((a, b) => a - b);
    return [steps, ...this.series.map((name) => steps.map((step) => this.points.get(step)[name] ?? null))];
  }

  // rows: [{step, ...}]; replace: drop what was there
  add(rows, replace = false) {
    if (replace) this.points.clear();
    for (const row of rows) {
      if (typeof row.step !== "number") continue;
      this.points.set(row.step, { ...(this.points.get(row.step) || {}), ...row });
    }
    this.box.dataset.points = String(this.points.size);
    this.plot.setData(this.data());
  }

  setSeries(series) {
    this.series = series;
    this.build();
    this.box.dataset.points = String(this.points.size);
  }

  get size() {
    return this.points.size;
  }

  destroy() {
    window.removeEventListener("resize", this.resize);
    this.plot?.destroy();
  }
}
