// The Runs page: a card per run (latest grid, preset, model, dataset, step, status, quality, alarms), the queue,
// kept current by the /api/stream live updates.
import { banner, el, fmt, post, statusBadge } from "../util.js";

const ACTIVE = ["queued", "starting", "training"];

const FIRST = ["fid", "precision", "recall", "near_copies", "diversity"]; // the measures worth a card's line

function qualityLine(quality) {
  const keys = Object.keys(quality || {});
  const shown = [...FIRST.filter((key) => keys.includes(key)), ...keys.filter((key) => !FIRST.includes(key))];
  const entries = shown.slice(0, 3).map((key) => [key, quality[key]]);
  return entries.length ? entries.map(([key, value]) => `${key} ${fmt(value)}`).join(" · ") : null;
}

function card(run, selected, onSelect) {
  const link = `#/run/${encodeURIComponent(run.name)}`;
  const stopping = run.job?.stop_requested && ACTIVE.includes(run.status);
  const picture = run.grid
    ? el("img", { src: run.grid, alt: `latest samples of ${run.name}`, class: "pixelated", loading: "lazy" })
    : el("div", { class: "placeholder", text: ACTIVE.includes(run.status) ? "waiting for the first grid" : "no grid" });
  const target = run.target_steps ? ` / ${fmt(run.target_steps)}` : "";
  const actions = el("div", { class: "actions" },
    el("a", { href: link, class: "button", text: ACTIVE.includes(run.status) ? "Watch" : "Open" }),
    run.has_checkpoint && (run.task && run.task !== "generate"
      ? el("a", { href: `#/enhance/${encodeURIComponent(run.name)}`, class: "button", text: "Enhance" })
      : el("a", { href: `#/explore/${encodeURIComponent(run.name)}`, class: "button", text: "Explore" })),
    ACTIVE.includes(run.status) && el("button", {
      class: "danger", text: stopping ? "Stopping…" : run.status === "queued" ? "Cancel" : "Stop", disabled: stopping,
      onclick: async () => {
        try { await post(`/api/runs/${encodeURIComponent(run.name)}/stop`); } catch (error) { banner(error.message); }
      } }),
    !["queued", "starting", "cancelled"].includes(run.status) && el("label", { class: "pick", title: "pick runs to compare" },
      el("input", { type: "checkbox", checked: selected.has(run.name),
                    onchange: (event) => onSelect(run.name, event.target.checked) }), "compare"));
  const job = run.job;
  return el("article", { class: "card", dataset: { run: run.name, status: run.status } },
    el("a", { href: link, class: "thumb" }, picture),
    el("div", { class: "body" },
      el("h2", {}, el("a", { href: link, text: run.name }), " ", statusBadge(run.status)),
      el("p", { class: "meta", text: [run.preset, run.model, run.dataset].filter(Boolean).join(" · ") || "–" }),
      el("p", { class: "step", text: `step ${fmt(run.step)}${target}` }),
      qualityLine(run.quality) && el("p", { class: "quality", text: qualityLine(run.quality) }),
      job?.state === "queued" && el("p", { class: "muted", text: `queued, position ${job.position}` }),
      job?.state === "failed" && el("p", { class: "error-text", text: job.error }),
      ...Object.values(run.alarms || {}).map((text) => el("p", { class: "alarm", text }))),
    actions);
}

export async function show(page) {
  const selected = new Set();
  const compare = el("a", { class: "button", href: "#/compare", text: "Compare selected" });
  const updateCompare = () => {
    compare.href = `#/compare?runs=${[...selected].map(encodeURIComponent).join(",")}`;
    compare.classList.toggle("disabled", selected.size < 2);
  };
  updateCompare();
  const cards = el("section", { class: "cards", "aria-label": "runs" });
  const empty = el("p", { class: "muted", hidden: true },
                   "No runs yet. ", el("a", { href: "#/train", text: "Start one" }), ".");
  const queue = el("section", { class: "queue" });
  page.append(el("div", { class: "page-head" }, el("h1", { text: "Runs" }),
                 el("div", { class: "actions" }, el("a", { class: "button primary", href: "#/train",
                                                           text: "New training" }), compare)),
              empty, cards, queue);

  const shown = new Map(); // name -> [json, element]
  const onSelect = (name, on) => { on ? selected.add(name) : selected.delete(name); updateCompare(); };
  function render({ runs, queue: jobs }) {
    empty.hidden = runs.length > 0;
    const names = new Set(runs.map((run) => run.name));
    for (const [name, [, node]] of shown) if (!names.has(name)) { node.remove(); shown.delete(name); }
    let previous = null;
    for (const run of runs) {
      const text = JSON.stringify(run);
      let entry = shown.get(run.name);
      if (!entry || entry[0] !== text) {
        const node = card(run, selected, onSelect);
        if (entry) entry[1].replaceWith(node);
        entry = [text, node];
        shown.set(run.name, entry);
      }
      const node = entry[1];
      if (previous ? previous.nextSibling !== node : cards.firstChild !== node) {
        previous ? previous.after(node) : cards.prepend(node);
      }
      previous = node;
    }
    const waiting = jobs.filter((job) => ["queued", "starting", "training"].includes(job.state));
    queue.replaceChildren(el("h2", { text: "Queue" }),
      waiting.length
        ? el("ol", {}, ...waiting.map((job) => el("li", { dataset: { job: job.id } },
            el("a", { href: `#/run/${encodeURIComponent(job.run)}`, text: job.run }), ` · ${job.kind} · ${job.state}`)))
        : el("p", { class: "muted", text: "Nothing waiting: one training runs at a time, the others wait here." }));
  }

  const source = new EventSource("/api/stream");
  source.addEventListener("runs", (event) => render(JSON.parse(event.data)));
  source.onerror = () => { if (source.readyState === EventSource.CLOSED) banner("lost the live updates; reload"); };
  return { cleanup: () => source.close() };
}
