// Enhance with an image-to-image run (upscale, colorize, sketch, inpaint, paired, cyclegan): drop an image, the run's
// translator (ganvas.load_translator's Translator.enhance, in a thread of the server) turns it into another, shown
// beside it and downloadable, at any size. #/enhance/NAME?t=ID shows a translation.
import { api, banner, clearBanners, el, fetchImage, fmt, onImageChosen, query, recordProgress, runUrl }
  from "../util.js";

const translationUrl = (id, rest = "") => `/api/translations/${encodeURIComponent(id)}${rest}`;
const WHAT = { upscale: "enlarged 4 times", colorize: "coloured", sketch: "drawn from its edges", inpaint: "filled in",
               paired: "translated", cyclegan: "translated" };

export async function show(page, name, params) {
  let info = await api(runUrl(name, "/translator"));
  let current = params.get("t");
  let timer = null;

  const checkpointSelect = el("select", { id: "enhance-checkpoint" },
    el("option", { value: "latest", text: `latest (step ${fmt(info.step)})` }),
    ...info.checkpoints.slice().reverse().map((item) => el("option", { value: item.name,
                                                                       text: `${item.name} (step ${fmt(item.step)})` })));
  const directionSelect = el("select", { id: "enhance-direction" },
    el("option", { value: "a2b", text: "a2b: into the second folder's style" }),
    el("option", { value: "b2a", text: "b2a: into the first folder's style" }));
  const maskInput = el("input", { type: "file", id: "enhance-mask", accept: "image/*" });
  const fileInput = el("input", { type: "file", id: "enhance-file", accept: "image/*" });
  const drop = el("div", { class: "drop", id: "drop" }, el("p", { text: "Drop an image here, or choose one: " }),
    fileInput, el("div", { class: "controls" }, el("label", {}, "checkpoint ", checkpointSelect),
      info.directions.length > 1 ? el("label", {}, "direction ", directionSelect) : null,
      info.task === "inpaint" ? el("label", { title: "without a mask, the image's transparent pixels are filled" },
                                   "mask (white on the holes; optional) ", maskInput) : null));
  const uploadError = el("p", { class: "error-text", role: "alert", id: "enhance-error" });
  const statusText = el("p", { class: "muted", id: "enhance-status" });
  const progress = recordProgress("enhance-progress", "tile");
  progress.node.hidden = true;
  const input = el("img", { class: "pixelated shown", id: "enhance-input", alt: "your image" });
  const output = el("img", { class: "pixelated shown", id: "enhance-output", alt: "the translation" });
  const inputCaption = el("figcaption");
  const outputCaption = el("figcaption");
  const downloads = el("div", { class: "actions" });
  const result = el("section", { class: "panel result", hidden: true }, el("h2", { text: "Your image and its translation" }),
    el("div", { class: "pair" }, el("figure", {}, input, inputCaption), el("figure", {}, output, outputCaption)),
    downloads);
  const history = el("div", { class: "history" });
  const head = el("span", { class: "muted" });
  const describe = () => {
    head.textContent = `${info.task} translator · ${info.checkpoint} (step ${fmt(info.step)}) · trained at ` +
                       `${info.size} px, takes any size`;
  };
  describe();

  page.append(
    el("div", { class: "page-head" },
       el("h1", {}, "Enhance ", el("a", { href: `#/run/${encodeURIComponent(name)}`, text: name })), head),
    drop, uploadError, progress.node, statusText, result,
    el("div", { class: "panel" }, el("h2", { text: "Earlier translations" }), history));

  checkpointSelect.addEventListener("change", async () => {
    try {
      info = await api(runUrl(name, `/translator?${query({ checkpoint: checkpointSelect.value })}`));
      describe();
      clearBanners("enhance");
    } catch (error) {
      banner(error.message, "error", "enhance");
    }
  });

  async function showImage(target, path) {
    const url = await fetchImage(path);
    if (target.src.startsWith("blob:")) URL.revokeObjectURL(target.src);
    target.src = url;
  }

  async function refreshHistory() {
    const { translations } = await api(runUrl(name, "/translations"));
    history.replaceChildren(...(translations.length ? translations.map((item) => el("a", {
      class: `past${item.id === current ? " current" : ""}`, href: `#/enhance/${encodeURIComponent(name)}?t=${item.id}`,
      title: item.error || `${item.name}: ${item.state}`, dataset: { translation: item.id } },
      item.state === "done" ? el("img", { class: "pixelated", src: translationUrl(item.id, "/files/output.png"),
                                          alt: item.name }) : el("span", { text: item.state }),
      el("span", { class: "muted", text: item.name }))) : [el("p", { class: "muted", text: "none yet" })]));
  }

  async function follow(id) {
    clearTimeout(timer);
    current = id;
    const state = await api(translationUrl(id));
    progress.show(state, translationUrl(id));
    progress.node.hidden = state.state === "failed";
    page.dataset.translation = state.state;
    directionSelect.value = state.direction;
    if (checkpointSelect.value !== state.checkpoint) {  // the choices this translation was made with
      checkpointSelect.value = state.checkpoint;
      checkpointSelect.dispatchEvent(new Event("change"));
    }
    if (state.state === "failed" || state.state === "cancelled") {
      statusText.textContent = state.state === "cancelled" ? `${state.name}: cancelled` : "";
      uploadError.textContent = state.error || "";
      result.hidden = true;
      await refreshHistory();
      return;
    }
    if (state.state !== "done") {
      statusText.textContent = `${state.name}: ${state.cancelling ? "cancelling" : state.state}…`;
      timer = setTimeout(() => follow(id), 300);
      return;
    }
    const [width, height] = state.output_size;
    const way = state.task === "cyclegan" ? ` (${state.direction})` : "";
    statusText.textContent = `${state.name}: ${WHAT[state.task] || "translated"}${way} by ${state.checkpoint} ` +
                             `(step ${fmt(state.step)}) in ${fmt(state.seconds)} s`;
    inputCaption.textContent = `your image, ${state.input_size.join("x")}`;
    outputCaption.textContent = `${state.task}${way}, ${width}x${height}`;
    result.hidden = false;
    try {
      await Promise.all([showImage(input, translationUrl(id, "/files/input.png")),
                         showImage(output, translationUrl(id, "/files/output.png"))]);
    } catch (error) {
      banner(error.message, "error", "enhance");
    }
    downloads.replaceChildren(
      el("a", { class: "button", id: "enhance-download", download: true, text: `Download result PNG (${width}x${height})`,
                href: translationUrl(id, "/files/output.png?download=1") }));
    await refreshHistory();
  }

  // Inpainting's mask goes first, as an upload set of one image (the uploads' checks); the image names it.
  async function uploadMask(file) {
    try {
      return (await api(`/api/uploads?${query({ name: file.name })}`, { method: "POST", body: file })).upload;
    } catch (error) {
      throw new Error(`mask: ${error.message}`);
    }
  }

  async function send(file) {
    uploadError.textContent = "";
    try {
      const mask = maskInput.files?.[0] ? await uploadMask(maskInput.files[0]) : null;
      const params = { name: file.name, checkpoint: checkpointSelect.value, mask,
                       direction: info.directions.length > 1 ? directionSelect.value : null };
      const body = await api(runUrl(name, `/translations?${query(params)}`), { method: "POST", body: file });
      location.hash = `#/enhance/${encodeURIComponent(name)}?t=${body.id}`;
    } catch (error) {
      uploadError.textContent = error.message;
    }
  }
  onImageChosen(drop, fileInput, send);

  await refreshHistory();
  if (current) await follow(current);
  return { cleanup: () => clearTimeout(timer) };
}
