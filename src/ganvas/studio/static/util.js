// Small helpers shared by the pages: the API, building elements (as text, never HTML), banners, formatting.

export class ApiError extends Error {}

async function errorOf(response) {
  try {
    const body = await response.json();
    return new ApiError(body.error || `${response.status} ${response.statusText}`);
  } catch {
    return new ApiError(`${response.status} ${response.statusText}`);
  }
}

export async function api(path, options = {}) {
  const response = await fetch(path, { credentials: "same-origin", ...options });
  if (!response.ok) throw await errorOf(response);
  return response.json();
}

export function post(path, body) {
  return api(path, { method: "POST", headers: { "Content-Type": "application/json" },
                     body: JSON.stringify(body ?? {}) });
}

// An image from the API as an object URL, or an ApiError with the server's message (an <img> cannot read it).
export async function fetchImage(path, signal) {
  const response = await fetch(path, { credentials: "same-origin", signal });
  if (!response.ok) throw await errorOf(response);
  return URL.createObjectURL(await response.blob());
}

export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (value === true) node.setAttribute(key, "");
    else node.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function banner(message, kind = "error", key = null) {
  const area = document.getElementById("banners");
  if (key) area.querySelector(`[data-key="${CSS.escape(key)}"]`)?.remove();
  const node = el("div", { class: `banner ${kind}`, role: kind === "error" ? "alert" : "status",
                           dataset: key ? { key } : {} },
                  el("span", { text: message }),
                  el("button", { class: "close", title: "dismiss", onclick: () => node.remove(), text: "×" }));
  area.append(node);
  if (kind === "info") setTimeout(() => node.remove(), 6000);
  return node;
}

export function clearBanners(key = null) {
  const area = document.getElementById("banners");
  for (const node of area.querySelectorAll(key ? `[data-key="${CSS.escape(key)}"]` : ".banner")) node.remove();
}

export function fmt(value, digits = 3) {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  if (typeof value !== "number") return String(value);
  if (Number.isInteger(value)) return value.toLocaleString("en");
  return Math.abs(value) >= 100 ? value.toFixed(0) : value.toPrecision(digits);
}

export function duration(seconds) {
  if (!Number.isFinite(seconds) || seconds < 0) return "–";
  seconds = Math.round(seconds);
  const h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
  return h ? `${h}h ${m}m` : m ? `${m}m ${s}s` : `${s}s`;
}

export function statusBadge(status) {
  return el("span", { class: `status status-${status}`, text: status });
}

export function debounce(fn, ms) {
  let timer = null;
  return (...args) => { clearTimeout(timer); timer = setTimeout(() => fn(...args), ms); };
}

export const runUrl = (name, rest = "") => `/api/runs/${encodeURIComponent(name)}${rest}`;

export function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== null && value !== undefined && value !== "") search.set(key, value);
  }
  return search.toString();
}

// Calls send(file) with the image chosen in fileInput or dropped on the drop zone (highlighted while dragged over).
export function onImageChosen(drop, fileInput, send) {
  fileInput.addEventListener("change", () => fileInput.files[0] && send(fileInput.files[0]));
  drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    const file = event.dataTransfer.files[0];
    if (file) send(file);
  });
}

// The Enhance pages' progress for a record of work on an image (a projection's steps, a translation's tiles): a
// bar, a line of text and, while the record is queued or running, a Cancel button that asks the server to stop it
// (POST RECORD_URL/cancel; it stops at the next step or tile and keeps no result). show(state, recordUrl) follows
// the record's state as the server gives it.
export function recordProgress(id, unit) {
  const bar = el("progress", { max: 1, value: 0, id });
  const text = el("span", { class: "muted", id: `${id}-text` });
  const cancel = el("button", { type: "button", id: `${id}-cancel`, text: "Cancel", hidden: true });
  let cancelUrl = null;
  let shown = null;  // the arguments of the last show()
  let asked = null;  // the record whose cancel was asked here (a poll that left before it may not show it yet)
  cancel.addEventListener("click", async () => {
    asked = cancelUrl;
    show(...shown);
    try {
      await post(cancelUrl);
    } catch (error) {
      asked = null;
      show(...shown);
      banner(error.message, "error", "enhance");
    }
  });
  const count = (n) => `${fmt(n)} ${unit}${n === 1 ? "" : "s"}`;
  function show(state, recordUrl) {
    shown = [state, recordUrl];
    cancelUrl = `${recordUrl}/cancel`;
    const active = state.state === "queued" || state.state === "running";
    const cancelling = state.cancelling || asked === cancelUrl;
    bar.max = state.total || 1;
    bar.value = state.done || 0;
    cancel.hidden = !active;
    cancel.disabled = cancelling;
    if (state.state === "done") text.textContent = state.total ? `done: ${count(state.total)}` : "done";
    else if (state.state === "cancelled") {
      text.textContent = state.done ? `cancelled after ${unit} ${fmt(state.done)} of ${fmt(state.total)}: nothing ` +
                                      "was kept" : "cancelled before it started: nothing was kept";
    } else if (!active) text.textContent = "";
    else {
      const at = state.total ? `${unit} ${fmt(state.done)} of ${fmt(state.total)}` : "";
      text.textContent = cancelling ? `cancelling${at ? ` (${at})` : ""}…` : at ? `${state.state}: ${at}`
                                                                            : `${state.state}…`;
    }
  }
  return { node: el("div", { class: "progress" }, bar, text, cancel), show };
}
