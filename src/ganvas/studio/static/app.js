// The studio's pages, one module each, chosen by the address's #fragment: #/ (runs), #/run/NAME,
// #/train, #/explore/NAME, #/compare?runs=a,b and #/enhance/NAME (where ganvas has projection).
import { api, banner, clearBanners } from "./util.js";

const pages = {
  runs: () => import("./pages/runs.js"),
  run: () => import("./pages/run.js"),
  train: () => import("./pages/train.js"),
  explore: () => import("./pages/explore.js"),
  compare: () => import("./pages/compare.js"),
  enhance: () => import("./pages/enhance.js"),
};

let current = null;
let info = null;

async function route() {
  const [path, search] = location.hash.replace(/^#\/?/, "").split("?");
  const [name, ...rest] = path.split("/").filter(Boolean);
  let key = name && pages[name] ? name : "runs";
  if (key === "enhance" && !info?.enhance) key = "runs";
  if (current?.cleanup) current.cleanup();
  current = null;
  clearBanners();
  for (const link of document.querySelectorAll("nav a")) {
    link.classList.toggle("active", link.dataset.nav === (key === "run" || key === "explore" ? "runs" : key));
  }
  const page = document.getElementById("page");
  page.replaceChildren();
  page.dataset.page = key;
  try {
    const module = await pages[key]();
    current = await module.show(page, rest.map(decodeURIComponent), new URLSearchParams(search || ""), info);
  } catch (error) {
    banner(error.message);
  }
}

async function start() {
  try {
    info = await api("/api/info");
  } catch (error) {
    banner(`the studio did not answer: ${error.message}`);
  }
  document.querySelector('[data-nav="enhance"]').hidden = !info?.enhance;
  window.addEventListener("hashchange", route);
  await route();
}

start();
