// Enhance: drop an image, watch its projection into a run's generator converge, see it beside the original, then
// vary it, blend it with another image or a seed, re-class it (conditional models) and download each result.
// An image-to-image run's page is translate.js's instead. #/enhance picks a run; #/enhance/NAME?p=ID shows a
// projection.
import { api, banner, clearBanners, debounce, el, fetchImage, fmt, onImageChosen, query, recordProgress,
         runUrl } from "../util.js";
import { show as showTranslator } from "./translate.js";

const projectionUrl = (id, rest = "") => `/api/projections/${encodeURIComponent(id)}${rest}`;

async function pickRun(page) {
  const { runs } = await api("/api/runs");
  const usable = runs.filter((run) => run.has_checkpoint);
  page.append(el("div", { class: "page-head" }, el("h1", { text: "Enhance" })),
    el("p", { class: "muted", text: "Project an image of your own into a run's generator, or translate it with an " +
                                    "image-to-image run (upscale, colorize, sketch, inpaint, paired, cyclegan). " +
                                    "Pick the run:" }),
    usable.length ? el("ul", { class: "run-list" }, ...usable.map((run) => el("li", {},
      el("a", { href: `#/enhance/${encodeURIComponent(run.name)}`, text: run.name }),
      el("span", { class: "muted", text: ` · ${[run.task === "generate" ? null : `${run.task} translator`, run.preset,
                                                 run.model, run.dataset].filter(Boolean).join(" · ")}` }))))
    : el("p", { class: "muted", text: "No run has a checkpoint yet." }));
  return null;
}

export async function show(page, [name], params) {
  if (!name) return pickRun(page);
  const { task } = await api(runUrl(name));
  if (task && task !== "generate") return showTranslator(page, name, params);
  const info = await api(runUrl(name, "/generator"));
  let current = params.get("p");
  let timer = null;

  const fileInput = el("input", { type: "file", id: "enhance-file", accept: "image/*" });
  const stepsInput = el("input", { type: "number", id: "enhance-steps", min: 1, max: 1000, value: 100,
                                   class: "short" });
  const classSelect = el("select", { id: "enhance-class" }, el("option", { value: "", text: "find it" }),
    ...Array.from({ length: info.classes || 0 }, (_, k) => el("option", { value: k, text: String(k) })));
  const drop = el("div", { class: "drop", id: "drop" }, el("p", { text: "Drop an image here, or choose one: " }),
    fileInput, el("div", { class: "controls" }, el("label", {}, "steps ", stepsInput),
                  info.classes ? el("label", {}, "class ", classSelect) : null));
  const uploadError = el("p", { class: "error-text", role: "alert", id: "enhance-error" });
  const progress = recordProgress("enhance-progress", "step");
  const result = el("section", { class: "result", hidden: true });
  const history = el("div", { class: "history" });

  const original = el("img", { class: "pixelated big", id: "enhance-target", alt: "your image, as the model sees it" });
  const projected = el("img", { class: "pixelated big", id: "enhance-projection", alt: "its projection" });
  const animation = el("img", { class: "pixelated walk", id: "enhance-animation", alt: "the projection converging" });
  const summary = el("p", { class: "summary" });
  const downloads = el("div", { class: "actions" });
  const strength = el("input", { type: "range", id: "enhance-strength", min: 0, max: 1, step: 0.05, value: 0.3 });
  const strengthValue = el("output", { text: "0.30" });
  const variations = el("img", { class: "pixelated wide", id: "enhance-variations", alt: "variations" });
  const partner = el("select", { id: "enhance-partner" });
  const partnerSeed = el("input", { type: "number", id: "enhance-seed", min: 0, value: 42, class: "short" });
  const blend = el("img", { class: "pixelated wide", id: "enhance-blend", alt: "blend" });
  const classes = el("img", { class: "pixelated wide", id: "enhance-classes", alt: "re-classed" });
  const links = { variations: el("a", { class: "button", download: true, text: "Download variations PNG" }),
                  blend: el("a", { class: "button", download: true, text: "Download blend PNG" }),
                  classes: el("a", { class: "button", download: true, text: "Download classes PNG" }) };

  result.append(
    el("div", { class: "columns" },
       el("div", { class: "panel" }, el("h2", { text: "Original and projection" }),
          el("div", { class: "pair" }, el("figure", {}, original, el("figcaption", { text: "your image" })),
             el("figure", {}, projected, el("figcaption", { text: "projection" }))), summary, downloads),
       el("div", { class: "panel" }, el("h2", { text: "Converging" }), animation)),
    el("div", { class: "panel" }, el("h2", { text: "Vary it" }),
       el("label", {}, "strength ", strength, strengthValue), variations, el("div", { class: "actions" },
       links.variations)),
    el("div", { class: "panel" }, el("h2", { text: "Blend it" }),
       el("div", { class: "controls" }, el("label", {}, "with ", partner), el("label", {}, "seed ", partnerSeed)),
       blend, el("div", { class: "actions" }, links.blend)),
    info.classes ? el("div", { class: "panel" }, el("h2", { text: "Re-class it" }),
       el("p", { class: "muted", text: "The same latent drawn as every class: its style, another class." }), classes,
       el("div", { class: "actions" }, links.classes)) : null);

  page.append(
    el("div", { class: "page-head" },
       el("h1", {}, "Enhance ", el("a", { href: `#/run/${encodeURIComponent(name)}`, text: name })),
       el("span", { class: "muted", text: `projecting into ${info.checkpoint} (step ${fmt(info.step)})` })),
    drop, uploadError, progress.node, result,
    el("div", { class: "panel" }, el("h2", { text: "Earlier projections" }), history));

  async function show(target, path) {
    try {
      const url = await fetchImage(path);
      if (target.src.startsWith("blob:")) URL.revokeObjectURL(target.src);
      target.src = url;
      target.dataset.params = path;
      clearBanners("enhance");
    } catch (error) {
      banner(error.message, "error", "enhance");
    }
  }

  async function refreshHistory() {
    const { projections } = await api(runUrl(name, "/projections"));
    const done = projections.filter((item) => item.state === "done");
    history.replaceChildren(...(projections.length ? projections.map((item) => el("a", {
      class: `past${item.id === current ? " current" : ""}`, href: `#/enhance/${encodeURIComponent(name)}?p=${item.id}`,
      title: item.summary || item.error || item.state, dataset: { projection: item.id } },
      item.state === "done" ? el("img", { class: "pixelated", src: projectionUrl(item.id, "/files/projection.png"),
                                          alt: item.name }) : el("span", { text: item.state }),
      el("span", { class: "muted", text: item.name }))) : [el("p", { class: "muted", text: "none yet" })]));
    partner.replaceChildren(el("option", { value: "seed", text: "a seed" }),
      ...done.filter((item) => item.id !== current).map((item) => el("option", { value: `projection:${item.id}`,
                                                                                  text: `projection ${item.name}` })));
  }

  function files(id) {
    const file = (name, text) => el("a", { class: "button", text, download: true,
                                           href: projectionUrl(id, `/files/${name}?download=1`) });
    downloads.replaceChildren(file("projection.png", "Projection PNG"), file("projection-compare.png", "Side by side PNG"),
                              file("projection.gif", "Converging GIF"), file("projection.json", "Latent JSON"));
  }

  function extras() {
    if (!current) return;
    const vary = { strength: strength.value, n: 16, columns: 8 };
    links.variations.href = projectionUrl(current, `/variations.png?${query({ ...vary, scale: 4, download: 1 })}`);
    show(variations, projectionUrl(current, `/variations.png?${query(vary)}`));
    const other = partner.value === "seed" ? `seed:${Math.max(0, Math.round(Number(partnerSeed.value) || 0))}`
                                           : partner.value;
    partnerSeed.hidden = partner.value !== "seed";
    links.blend.href = projectionUrl(current, `/blend.png?${query({ with: other, steps: 7, scale: 4, download: 1 })}`);
    show(blend, projectionUrl(current, `/blend.png?${query({ with: other, steps: 7 })}`));
    if (info.classes) {
      links.classes.href = projectionUrl(current, "/classes.png?scale=4&download=1");
      show(classes, projectionUrl(current, "/classes.png"));
    }
  }
  const laterExtras = debounce(extras, 150);
  strength.addEventListener("input", () => { strengthValue.textContent = Number(strength.value).toFixed(2); laterExtras(); });
  partner.addEventListener("change", extras);
  partnerSeed.addEventListener("input", laterExtras);

  async function follow(id) {
    clearTimeout(timer);
    current = id;
    const state = await api(projectionUrl(id));
    progress.show(state, projectionUrl(id));
    page.dataset.projection = state.state;
    if (state.state === "failed" || state.state === "cancelled") {
      uploadError.textContent = state.error || "";
      result.hidden = true;
      await refreshHistory();
      return;
    }
    if (state.state !== "done") {
      timer = setTimeout(() => follow(id), 300);
      return;
    }
    result.hidden = false;
    summary.textContent = state.summary;
    await Promise.all([show(original, projectionUrl(id, "/files/target.png")),
                       show(projected, projectionUrl(id, "/files/projection.png")),
                       show(animation, projectionUrl(id, "/files/projection.gif"))]);
    files(id);
    await refreshHistory();
    extras();
  }

  async function send(file) {
    uploadError.textContent = "";
    const params = { name: file.name, steps: stepsInput.value, class: classSelect.value };
    try {
      const body = await api(runUrl(name, `/projections?${query(params)}`), { method: "POST", body: file });
      history.prepend(el("span", { class: "muted", text: `${body.name}: queued` }));
      location.hash = `#/enhance/${encodeURIComponent(name)}?p=${body.id}`;
    } catch (error) {
      uploadError.textContent = error.message;
    }
  }
  onImageChosen(drop, fileInput, send);

  await refreshHistory();
  if (current) await follow(current);
  return { cleanup: () => clearTimeout(timer) };
}
