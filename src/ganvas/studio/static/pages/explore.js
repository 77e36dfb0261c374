// Explore a run's generator: a grid of seeds (tile i is seed + i; a conditional model's rows are its classes,
// unless one class is picked), click one to select it, truncation and variation-strength sliders, keyframes for a
// latent walk previewed in the page and exported as GIF or MP4, and every picture downloadable as PNG.
import { api, banner, clearBanners, debounce, el, fetchImage, query, runUrl } from "../util.js";

const PADDING = 2; // ganvas's grids put 2 px between tiles and around them

export async function show(page, [name]) {
  if (!name) { location.hash = "#/"; return null; }
  let info = await api(runUrl(name, "/generator"));
  const state = { checkpoint: "latest", seed: 0, n: 64, columns: 8, klass: "", truncation: 1, strength: 0.3,
                  selected: null, keyframes: [], frames: 40, loop: true, ease: "smooth", fps: 20 };

  const checkpointSelect = el("select", { id: "checkpoint", "aria-label": "checkpoint" });
  const seedInput = el("input", { type: "number", id: "seed", min: 0, step: 1, value: 0, class: "short" });
  const countSelect = el("select", { id: "count" }, ...[16, 36, 64, 100].map((n) => el("option", { value: n,
                                                                                                 text: n })));
  countSelect.value = "64";
  const classSelect = el("select", { id: "class" });
  const classLabel = el("label", {}, "class ", classSelect);
  const truncation = el("input", { type: "range", id: "truncation", min: 0.05, max: 1, step: 0.05, value: 1 });
  const truncationValue = el("output", { text: "1.00" });
  const strength = el("input", { type: "range", id: "strength", min: 0, max: 1, step: 0.05, value: 0.3 });
  const strengthValue = el("output", { text: "0.30" });
  const gridImage = el("img", { class: "pixelated", id: "grid", alt: "grid of seeds" });
  const overlay = el("div", { class: "overlay" });
  const gridBox = el("div", { class: "tiles", dataset: { state: "idle" } }, gridImage, overlay);
  const gridDownload = el("a", { class: "button", text: "Download grid PNG", download: true });
  const timing = el("span", { class: "muted timing" });

  const selectedImage = el("img", { class: "pixelated big", id: "selected", alt: "selected image", hidden: true });
  const selectedText = el("p", { class: "muted", text: "Click an image in the grid to select it." });
  const selectedDownload = el("a", { class: "button", text: "Download PNG", download: true, hidden: true });
  const keyframeButton = el("button", { text: "Add to walk", hidden: true, onclick: () => {
    if (state.selected && state.keyframes.length < 16) { state.keyframes.push({ ...state.selected }); showKeyframes(); }
  } });
  const variationsImage = el("img", { class: "pixelated", id: "variations", alt: "variations", hidden: true });
  const variationsDownload = el("a", { class: "button", text: "Download variations PNG", download: true,
                                       hidden: true });

  const keyframeList = el("ol", { class: "keyframes" });
  const framesInput = el("input", { type: "number", id: "frames", min: 2, max: 240, value: 40, class: "short" });
  const loopInput = el("input", { type: "checkbox", id: "loop", checked: true });
  const easeSelect = el("select", { id: "ease" }, el("option", { value: "smooth", text: "smooth" }),
                        el("option", { value: "linear", text: "linear" }));
  const walkImage = el("img", { class: "pixelated walk", id: "walk", alt: "latent walk", hidden: true });
  const previewButton = el("button", { id: "preview-walk", text: "Preview walk", onclick: () => previewWalk() });
  const gifLink = el("a", { class: "button", text: "Export GIF", download: true, hidden: true });
  const mp4Link = el("a", { class: "button", text: "Export MP4", download: true, hidden: true });

  page.append(
    el("div", { class: "page-head" },
       el("h1", {}, "Explore ", el("a", { href: `#/run/${encodeURIComponent(name)}`, text: name })),
       el("div", { class: "actions" }, gridDownload)),
    el("div", { class: "controls" },
       el("label", {}, "checkpoint ", checkpointSelect), el("label", {}, "first seed ", seedInput),
       el("label", {}, "images ", countSelect), classLabel,
       el("label", {}, "truncation ", truncation, truncationValue),
       el("label", {}, "variation strength ", strength, strengthValue), timing),
    el("div", { class: "columns explore" },
       el("div", { class: "panel" }, gridBox),
       el("div", {},
          el("div", { class: "panel" }, el("h2", { text: "Selected" }), selectedText, selectedImage,
             el("div", { class: "actions" }, keyframeButton, selectedDownload)),
          el("div", { class: "panel" }, el("h2", { text: "Variations" }), variationsImage,
             el("div", { class: "actions" }, variationsDownload)),
          el("div", { class: "panel" }, el("h2", { text: "Latent walk" }), keyframeList,
             el("div", { class: "controls" }, el("label", {}, "frames ", framesInput),
                el("label", {}, loopInput, " loop"), el("label", {}, "pace ", easeSelect)),
             el("div", { class: "actions" }, previewButton, gifLink, mp4Link), walkImage))));

  function setInfo() {
    checkpointSelect.replaceChildren(el("option", { value: "latest", text: `latest (step ${info.step})` }),
      ...info.checkpoints.slice().reverse().map((c) => el("option", { value: c.name, text: `${c.name}` })));
    checkpointSelect.value = state.checkpoint;
    classLabel.hidden = !info.classes;
    if (info.classes) {
      classSelect.replaceChildren(el("option", { value: "", text: "all (a row each)" }),
        ...Array.from({ length: info.classes }, (_, k) => el("option", { value: k, text: String(k) })));
      classSelect.value = state.klass;
    }
  }
  setInfo();

  const common = () => ({ checkpoint: state.checkpoint, truncation: state.truncation });
  const tileClass = (index) => state.klass !== "" ? Number(state.klass)
    : info.classes ? Math.floor(index / state.columns) % info.classes : null;

  let controller = null;
  async function render(target, path, box = null) {
    const started = performance.now();
    if (box) box.dataset.state = "rendering";
    try {
      const url = await fetchImage(path, controller?.signal);
      if (target.src.startsWith("blob:")) URL.revokeObjectURL(target.src);
      target.src = url;
      target.dataset.params = path;
      target.hidden = false;
      clearBanners("explore");
      return performance.now() - started;
    } catch (error) {
      if (error.name !== "AbortError") banner(error.message, "error", "explore");
      return null;
    } finally {
      if (box) box.dataset.state = "idle";
    }
  }

  async function renderGrid() {
    controller?.abort();
    controller = new AbortController();
    const params = { ...common(), seed: state.seed, n: state.n, columns: state.columns, class: state.klass };
    const path = runUrl(name, `/grid.png?${query(params)}`);
    gridDownload.href = runUrl(name, `/grid.png?${query({ ...params, scale: 4, download: 1 })}`);
    const ms = await render(gridImage, path, gridBox);
    if (ms !== null) timing.textContent = `grid in ${Math.round(ms)} ms`;
    layoutTiles();
    await renderSelected();
  }

  function layoutTiles() {
    const [, height, width] = info.image_shape;
    const columns = Math.min(state.columns, state.n), rows = Math.ceil(state.n / columns);
    const totalW = columns * (width + PADDING) + PADDING, totalH = rows * (height + PADDING) + PADDING;
    overlay.replaceChildren(...Array.from({ length: state.n }, (_, index) => {
      const seed = state.seed + index, klass = tileClass(index);
      const left = PADDING + (index % columns) * (width + PADDING), top = PADDING + Math.floor(index / columns) * (height + PADDING);
      const button = el("button", { class: "tile", title: `seed ${seed}${klass !== null ? `, class ${klass}` : ""}`,
                                    "aria-label": `seed ${seed}`, dataset: { seed, index } });
      Object.assign(button.style, { left: `${(100 * left) / totalW}%`, top: `${(100 * top) / totalH}%`,
                                    width: `${(100 * width) / totalW}%`, height: `${(100 * height) / totalH}%` });
      button.classList.toggle("selected", state.selected?.seed === seed && state.selected?.klass === klass);
      button.addEventListener("click", () => { state.selected = { seed, klass }; layoutTiles(); renderSelected(); });
      return button;
    }));
  }

  async function renderSelected() {
    const chosen = state.selected;
    const has = Boolean(chosen);
    selectedText.textContent = has ? `seed ${chosen.seed}${chosen.klass !== null ? `, class ${chosen.klass}` : ""}`
                                   : "Click an image in the grid to select it.";
    for (const node of [keyframeButton, selectedDownload, variationsDownload]) node.hidden = !has;
    if (!has) return;
    const params = { ...common(), seed: chosen.seed, class: chosen.klass };
    selectedDownload.href = runUrl(name, `/image.png?${query({ ...params, scale: 8, download: 1 })}`);
    const variation = { ...params, strength: state.strength, n: 16, columns: 8 };
    variationsDownload.href = runUrl(name, `/variations.png?${query({ ...variation, scale: 4, download: 1 })}`);
    await render(selectedImage, runUrl(name, `/image.png?${query({ ...params, scale: 4 })}`));
    await render(variationsImage, runUrl(name, `/variations.png?${query(variation)}`));
  }

  function showKeyframes() {
    keyframeList.replaceChildren(...state.keyframes.map((frame, index) => el("li", {},
      `seed ${frame.seed}`, el("button", { class: "close", title: "remove", text: "×",
        onclick: () => { state.keyframes.splice(index, 1); showKeyframes(); } }))));
    if (state.keyframes.length < 2) {
      keyframeList.append(el("li", { class: "muted", text: "Select images and add at least two to walk through." }));
    }
    previewButton.disabled = state.keyframes.length < 2;
  }
  showKeyframes();

  function walkParams() {
    const klass = state.klass !== "" ? state.klass : state.keyframes[0]?.klass;
    return { ...common(), seeds: state.keyframes.map((frame) => frame.seed).join(","), frames: framesInput.value,
             loop: loopInput.checked, ease: easeSelect.value, class: klass, fps: state.fps };
  }

  async function previewWalk() {
    if (state.keyframes.length < 2) return;
    const params = walkParams();
    previewButton.disabled = true;
    await render(walkImage, runUrl(name, `/walk.gif?${query(params)}`));
    previewButton.disabled = false;
    gifLink.href = runUrl(name, `/walk.gif?${query({ ...params, scale: 4, download: 1 })}`);
    mp4Link.href = runUrl(name, `/walk.mp4?${query({ ...params, scale: 4, download: 1 })}`);
    gifLink.hidden = mp4Link.hidden = false;
  }

  const later = debounce(renderGrid, 120);
  const laterSelected = debounce(renderSelected, 120);
  seedInput.addEventListener("input", () => { state.seed = Math.max(0, Math.round(Number(seedInput.value) || 0)); later(); });
  countSelect.addEventListener("change", () => { state.n = Number(countSelect.value); later(); });
  classSelect.addEventListener("change", () => { state.klass = classSelect.value; state.selected = null; later(); });
  truncation.addEventListener("input", () => {
    state.truncation = Number(truncation.value);
    truncationValue.textContent = state.truncation.toFixed(2);
    later();
  });
  strength.addEventListener("input", () => {
    state.strength = Number(strength.value);
    strengthValue.textContent = state.strength.toFixed(2);
    laterSelected();
  });
  checkpointSelect.addEventListener("change", async () => {
    state.checkpoint = checkpointSelect.value;
    try { info = { ...(await api(runUrl(name, `/generator?checkpoint=${state.checkpoint}`))) }; } catch (error) {
      banner(error.message);
    }
    later();
  });

  await renderGrid();
  return { cleanup: () => controller?.abort() };
}
