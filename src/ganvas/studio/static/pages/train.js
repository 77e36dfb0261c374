// The Train page: a preset and its main options (defaults from the preset), the data (a named dataset, a folder or
// zip under a --data-root, or images uploaded here), size and length. Starting queues the run; it trains in a
// process of its own, one at a time, and its page shows it live.
import { api, banner, el, fmt, post } from "../util.js";

const SEPARATE = ["size", "steps", "minutes"]; // shown in their own sections, always sent when filled

function field(option, value) {
  const id = `option-${option.name}`;
  let input;
  if (option.type === "bool") {
    input = el("input", { type: "checkbox", id, checked: Boolean(value) });
  } else if (option.choices) {
    input = el("select", { id }, ...option.choices.map((choice) => el("option", { value: choice, text: choice })));
    input.value = value ?? option.choices[0];
  } else if (option.type === "int" || option.type === "float") {
    input = el("input", { type: "number", id, step: option.type === "int" ? 1 : "any", value: value ?? "",
                          placeholder: option.nullable ? "default" : "" });
  } else {
    input = el("input", { type: "text", id, value: value ?? "" });
  }
  input.dataset.option = option.name;
  input.dataset.type = option.type;
  input.addEventListener("input", () => { input.dataset.dirty = "1"; });
  input.addEventListener("change", () => { input.dataset.dirty = "1"; });
  return el("label", { class: "field", title: option.help, for: id },
            el("span", { class: "label", text: option.name }), input,
            el("span", { class: "help", text: option.help }));
}

function valueOf(input) {
  if (input.type === "checkbox") return input.checked;
  if (input.value === "") return null;
  if (input.dataset.type === "int") return Math.round(Number(input.value));
  if (input.dataset.type === "float") return Number(input.value);
  return input.value;
}

// One data choice: a named dataset, a folder or zip under a --data-root, or images uploaded here. `prefix` keeps the
// element ids apart ("" for the run's data, "b-" for a translation's second folder); `changed` is told of each change.
function dataChoice(info, datasets, prefix, changed) {
  const kindRadios = {};
  const kindLabels = {};
  const kindRow = el("div", { class: "radios" }, ...[["dataset", "a named dataset"], ["folder", "a data folder"],
    ["upload", "upload images"]].map(([kind, text]) => {
    kindRadios[kind] = el("input", { type: "radio", name: `${prefix}data-kind`, value: kind,
                                     id: `${prefix}data-${kind}` });
    kindLabels[kind] = el("label", { for: `${prefix}data-${kind}` }, kindRadios[kind], ` ${text}`);
    return kindLabels[kind];
  }));
  const datasetSelect = el("select", { id: `${prefix}dataset` },
                           ...datasets.map((d) => el("option", { value: d, text: d })));
  const splitSelect = el("select", { id: `${prefix}split` }, el("option", { value: "train", text: "train" }),
                         el("option", { value: "test", text: "test" }));
  const datasetBox = el("div", { class: "data-choice", dataset: { kind: "dataset" } },
    el("label", {}, "dataset ", datasetSelect), el("label", {}, " split ", splitSelect),
    el("p", { class: "help", text: "downloaded into ganvas's cache on first use (or read from GANVAS_DATA_DIR)" }));

  const roots = info?.data_roots || [];
  const rootSelect = el("select", { id: `${prefix}data-root` },
                        ...roots.map((root) => el("option", { value: root.index, text: root.name })));
  const browser = el("div", { class: "browser" });
  const chosenText = el("p", { class: "chosen", text: "nothing chosen yet" });
  let chosen = null; // {root, path, kind}
  const folderBox = el("div", { class: "data-choice", dataset: { kind: "folder" } },
    roots.length ? el("label", {}, "data root ", rootSelect)
                 : el("p", { class: "muted", text: "No data folders: start the studio with --data-root FOLDER." }),
    browser, chosenText);

  async function browse(path) {
    if (!roots.length) return;
    try {
      const listing = await api(`/api/data/${rootSelect.value}?path=${encodeURIComponent(path)}`);
      const use = (entry) => { chosen = { root: Number(rootSelect.value), path: entry.path, kind: entry.kind };
        chosenText.textContent = `training on ${listing.name}/${entry.path || ""} (${entry.kind}` +
          `${entry.images !== undefined ? `, ${fmt(entry.images)} images` : ""})`; changed(); };
      const up = path.split("/").slice(0, -1).join("/");
      browser.replaceChildren(
        el("p", { class: "path" }, el("code", { text: `${listing.name}/${path}` }), ` · ${fmt(listing.images)} images `,
           el("button", { type: "button", text: "Use this folder",
                          onclick: () => use({ path, kind: listing.idx ? "idx" : "folder", images: listing.images }) }),
           path && el("button", { type: "button", text: "Up", onclick: () => browse(up) })),
        el("ul", {}, ...listing.entries.map((entry) => el("li", {},
          el("span", { text: `${entry.name} ` }),
          el("span", { class: "muted", text: entry.kind === "zip" ? "zip " : entry.kind === "idx" ? "IDX files " :
                                               `${fmt(entry.images)} images ` }),
          entry.kind !== "zip" && el("button", { type: "button", text: "Open", onclick: () => browse(entry.path) }),
          el("button", { type: "button", text: "Use", onclick: () => use(entry) })))));
    } catch (error) {
      banner(error.message);
    }
  }
  rootSelect.addEventListener("change", () => browse(""));

  const fileInput = el("input", { type: "file", id: `${prefix}upload-files`, multiple: true,
                                  accept: "image/*,.zip,application/zip" });
  const uploadStatus = el("p", { class: "upload-status" });
  const uploadErrors = el("ul", { class: "upload-errors", role: "alert" });
  let upload = null; // {upload, images}
  const uploadBox = el("div", { class: "data-choice", dataset: { kind: "upload" } },
    el("label", {}, "images or a zip of them ", fileInput), uploadStatus, uploadErrors,
    el("p", { class: "help", text: `at most ${Math.round((info?.limits?.upload_bytes || 0) / 2 ** 20)} MB a file and ` +
                                   `${fmt(info?.limits?.image_pixels)} pixels an image` }));
  fileInput.addEventListener("change", async () => {
    uploadErrors.replaceChildren();
    for (const file of fileInput.files) {
      uploadStatus.textContent = `uploading ${file.name}…`;
      try {
        const params = new URLSearchParams({ name: file.name });
        if (upload) params.set("upload", upload.upload);
        upload = await api(`/api/uploads?${params}`, { method: "POST", body: file });
        for (const skipped of upload.skipped) uploadErrors.append(el("li", { text: skipped.reason }));
      } catch (error) {
        uploadErrors.append(el("li", { class: "error-text", text: error.message }));
      }
    }
    uploadStatus.textContent = upload ? `${fmt(upload.images)} images ready to train on` : "no images uploaded";
  });

  const boxes = [datasetBox, folderBox, uploadBox];
  const kind = () => Object.keys(kindRadios).find((key) => kindRadios[key].checked);
  function showKind() {
    for (const box of boxes) box.hidden = box.dataset.kind !== kind();
    if (kind() === "folder" && !browser.childElementCount) browse("");
    changed();
  }
  for (const radio of Object.values(kindRadios)) radio.addEventListener("change", showKind);
  kindRadios.dataset.checked = true;
  return {
    element: el("div", {}, kindRow, ...boxes),
    showKind,
    // Whether the run trains at a size of its choosing (not a named dataset's, nor an IDX folder's).
    sized: () => kind() !== "dataset" && !(kind() === "folder" && chosen?.kind === "idx"),
    // Translation tasks learn from your own images: no named dataset.
    allowDataset(allowed) {
      kindLabels.dataset.hidden = !allowed;
      if (!allowed && kind() === "dataset") kindRadios[roots.length ? "folder" : "upload"].checked = true;
      showKind();
    },
    // The request's data choice, or an Error saying what is missing.
    value() {
      if (kind() === "dataset") return { kind: "dataset", dataset: datasetSelect.value, split: splitSelect.value };
      if (kind() === "folder") {
        if (!chosen) throw new Error("choose a folder or zip under a data root first");
        return { kind: "folder", root: chosen.root, path: chosen.path, dataset: datasetSelect.value,
                 split: splitSelect.value };
      }
      if (!upload) throw new Error("upload some images first");
      return { kind: "upload", upload: upload.upload };
    },
  };
}

export async function show(page, _rest, _params, info) {
  const [{ presets, options, datasets }, { runs }] = await Promise.all([api("/api/presets"), api("/api/runs")]);
  const names = new Set(runs.map((run) => run.name));
  const byName = Object.fromEntries(options.map((option) => [option.name, option]));

  const group = (label, translating) => el("optgroup", { label }, ...Object.keys(presets)
    .filter((name) => (presets[name].task !== "generate") === translating)
    .map((name) => el("option", { value: name, text: name })));
  const presetSelect = el("select", { id: "preset", name: "preset" },
                          group("noise to image", false), group("image to image (docs/translate.md)", true));
  presetSelect.value = presets.mnist ? "mnist" : Object.keys(presets)[0];
  const presetText = el("p", { class: "help" });
  const nameInput = el("input", { id: "run-name", type: "text", required: true, pattern: "[A-Za-z0-9][A-Za-z0-9._\\-]*",
                                  maxlength: 100 });
  const uniqueName = (base) => { let i = 1; while (names.has(`${base}-${i}`)) i += 1; return `${base}-${i}`; };

  // --- data: the run's, and for paired and cyclegan a second folder (B) ---
  const sizeInput = el("input", { type: "number", id: "option-size", min: 16, max: 256, step: 1, value: 32 });
  sizeInput.dataset.option = "size";
  sizeInput.dataset.type = "int";
  sizeInput.addEventListener("input", () => { sizeInput.dataset.dirty = "1"; });
  const sizeBox = el("label", { class: "field" }, el("span", { class: "label", text: "size" }), sizeInput,
                     el("span", { class: "help", text: "your images are trained at size × size pixels (16-256; 32 " +
                                                        "or 64 on a CPU; a multiple of 16 for image to image)" }));
  const data = dataChoice(info, datasets, "", () => { sizeBox.hidden = !data.sized(); });
  const dataB = dataChoice(info, datasets, "b-", () => {});
  const dataBSet = el("fieldset", { class: "data-b" }, el("legend", { text: "Data B" }),
    el("p", { class: "help", text: "the second folder: paired matches its files to the first's by name; cyclegan " +
                                   "translates between the two both ways" }), dataB.element);
  dataB.allowDataset(false);

  // --- length and options ---
  const stepsInput = el("input", { type: "number", id: "option-steps", min: 1, step: 1, placeholder: "5000" });
  stepsInput.dataset.type = "int";
  const minutesInput = el("input", { type: "number", id: "option-minutes", min: 0, step: "any",
                                     placeholder: "no limit" });
  minutesInput.dataset.type = "float";
  const optionBox = el("div", { class: "fields" });
  const presetNote = el("p", { class: "help" });
  function fill() {
    const preset = presets[presetSelect.value];
    presetText.textContent = preset.description;
    presetNote.textContent = preset.own_images
      ? "This preset picks model, batch and augmentation from your images: the values below are its choice for " +
        `100 images at ${preset.size} px; what you change wins.`
      : "Filled in from the preset; what you change wins.";
    optionBox.replaceChildren(...options.filter((option) => !SEPARATE.includes(option.name))
      .map((option) => field(option, preset.defaults[option.name])));
    if (!nameInput.dataset.dirty) nameInput.value = uniqueName(presetSelect.value);
    if (!sizeInput.dataset.dirty) sizeInput.value = preset.size;
    data.allowDataset(preset.task === "generate");
    dataBSet.hidden = !preset.two_folders;
  }
  nameInput.addEventListener("input", () => { nameInput.dataset.dirty = "1"; });
  presetSelect.addEventListener("change", fill);

  const submit = el("button", { type: "submit", class: "primary", id: "start", text: "Start training" });
  const formError = el("p", { class: "error-text", role: "alert" });
  const form = el("form", { class: "train", novalidate: true },
    el("fieldset", {}, el("legend", { text: "Run" }),
       el("label", { class: "field" }, el("span", { class: "label", text: "name" }), nameInput),
       el("label", { class: "field" }, el("span", { class: "label", text: "preset" }), presetSelect), presetText),
    el("fieldset", {}, el("legend", { text: "Data" }), data.element, sizeBox), dataBSet,
    el("fieldset", {}, el("legend", { text: "Length" }),
       el("label", { class: "field" }, el("span", { class: "label", text: "steps" }), stepsInput,
          el("span", { class: "help", text: byName.steps?.help || "" })),
       el("label", { class: "field" }, el("span", { class: "label", text: "minutes" }), minutesInput,
          el("span", { class: "help", text: byName.minutes?.help || "" }))),
    el("details", { class: "options", open: true }, el("summary", { text: "Options" }), presetNote, optionBox),
    el("div", { class: "actions" }, submit), formError);

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    formError.textContent = "";
    const request = { name: nameInput.value.trim(), preset: presetSelect.value };
    try {
      request.data = data.value();
      if (!dataBSet.hidden) request.data_b = dataB.value();
    } catch (error) {
      formError.textContent = dataBSet.hidden ? error.message : `${error.message} (Data ${request.data ? "B" : "A"})`;
      return;
    }
    const chosenOptions = {};
    for (const input of optionBox.querySelectorAll("[data-option]")) {
      if (input.dataset.dirty) chosenOptions[input.dataset.option] = valueOf(input);
    }
    if (stepsInput.value) chosenOptions.steps = valueOf(stepsInput);
    if (minutesInput.value) chosenOptions.minutes = valueOf(minutesInput);
    if (!sizeBox.hidden) chosenOptions.size = valueOf(sizeInput);
    submit.disabled = true;
    try {
      const result = await post("/api/train", { ...request, options: chosenOptions });
      location.hash = `#/run/${encodeURIComponent(result.run)}`;
    } catch (error) {
      formError.textContent = error.message;
    } finally {
      submit.disabled = false;
    }
  });

  const queue = el("section", { class: "queue", "aria-label": "queue" });
  function showQueue({ queue: jobs, max_running: slots }) {
    const waiting = jobs.filter((job) => ["queued", "starting", "training"].includes(job.state));
    queue.replaceChildren(el("h2", { text: "Queue" }),
      el("p", { class: "muted", text: `${slots} training${slots === 1 ? "" : "s"} at a time; the others wait here, ` +
                                      "in order." }),
      waiting.length ? el("ol", {}, ...waiting.map((job) => el("li", { dataset: { job: job.id } },
        el("a", { href: `#/run/${encodeURIComponent(job.run)}`, text: job.run }), ` · ${job.kind} · ${job.state}`)))
        : el("p", { class: "muted", text: "Nothing is training or waiting now." }));
  }
  const source = new EventSource("/api/stream");
  source.addEventListener("runs", (event) => showQueue({ ...JSON.parse(event.data),
                                                         max_running: info?.max_running ?? 1 }));

  page.append(el("div", { class: "page-head" }, el("h1", { text: "Train" })), form, queue);
  fill();
  data.showKind();
  return { cleanup: () => source.close() };
}
