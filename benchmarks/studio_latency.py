"""ganvas studio's speed: a 64-image grid's latency with 1 and 8 clients, and the Explore page's first load.

    python benchmarks/studio_latency.py [--run RUN] [--requests 200] [--json]

Starts `ganvas studio` on 127.0.0.1 (a free port) over a runs folder holding one mnist-preset run: RUN, or a
short one trained here on stand-in digits (a generator's speed does not depend on how well it was trained; the
preset's network is what counts: a class-conditional DCGAN, width 32, 28x28). Then:

- grid latency: GET /api/runs/NAME/grid.png?n=64&seed=S, a new seed each time (as the Explore page asks when its
  seed changes), after a warm-up; p50 and p95 over --requests requests, from 1 client and from 8 at once;
- Explore's first load, in Chromium (Debian's, through Playwright; skipped when missing): from navigation to the
  page's first grid shown, on a fresh server (the generator not loaded yet) and again on a warm one.

Run it alone on the machine: other work on the CPU shows up in every number.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def fixture_run(folder: Path) -> Path:
    """A 60-step mnist-preset run on stand-in digits (bars whose position is the digit)."""
    import ganvas

    sys.path.insert(0, str(REPO_ROOT / "tests"))
    from conftest import digit_like_images, write_mnist_split

    pixels, labels = digit_like_images(256)
    data = write_mnist_split(folder / "data", pixels, labels, "test")
    run = ganvas.train(preset="mnist", run=folder / "runs" / "digits", data_dir=str(data), split="test", steps=60,
                       eval_every=0, progress=False, device="cpu")
    return run.path


class Studio:
    def __init__(self, runs: Path):
        self.process = subprocess.Popen([sys.executable, "-m", "ganvas", "studio", "--runs", str(runs), "--port", "0"],
                                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.process.stdout.readline()
        found = re.search(r"(http://127\.0\.0\.1:\d+)", line)
        if not found:
            self.stop()
            raise SystemExit(f"the studio did not start: {line!r}")
        self.url = found[1]

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(15)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def grid_latency(url: str, run: str, clients: int, requests: int) -> dict[str, float]:
    import httpx2

    def one_client(index: int) -> list[float]:
        times = []
        with httpx2.Client(base_url=url, timeout=60) as http:
            for i in range(index, requests, clients):
                started = time.perf_counter()
                response = http.get(f"/api/runs/{run}/grid.png", params={"n": 64, "seed": 1000 + i * 64})
                times.append(time.perf_counter() - started)
                response.raise_for_status()
        return times

    with httpx2.Client(base_url=url, timeout=60) as http:  # warm-up: load the generator, first torch calls
        for seed in range(5):
            http.get(f"/api/runs/{run}/grid.png", params={"n": 64, "seed": seed}).raise_for_status()
    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        times = [t for chunk in pool.map(one_client, range(clients)) for t in chunk]
    wall = time.perf_counter() - started
    return {"clients": clients, "requests": len(times), "p50_ms": 1000 * statistics.median(times),
            "p95_ms": 1000 * percentile(times, 95), "grids_per_s": len(times) / wall}


def first_load(runs: Path, run: str) -> dict[str, float] | None:
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    if not Path(chromium).exists():
        return None
    studio = Studio(runs)  # a fresh server: nothing cached yet
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            found = {}
            for label in ("cold_ms", "warm_ms"):
                page = browser.new_context(viewport={"width": 1200, "height": 800}).new_page()
                started = time.perf_counter()
                page.goto(f"{studio.url}/#/explore/{run}")
                page.wait_for_function("() => { const i = document.querySelector('#grid'); "
                                       "return i && i.complete && i.naturalWidth > 0; }", timeout=60_000)
                found[label] = 1000 * (time.perf_counter() - started)
                if label == "cold_ms":
                    found["page_ms"] = page.evaluate(
                        "() => performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd")
                page.context.close()
            browser.close()
        return found
    finally:
        studio.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, help="an mnist-preset run folder (default: train a short one)")
    parser.add_argument("--requests", type=int, default=200, help="grids per measurement (default 200)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        os.environ.setdefault("GANVAS_HOME", str(scratch / "home"))
        runs = scratch / "runs"
        if args.run:
            runs.mkdir()
            (runs / args.run.name).symlink_to(args.run.resolve())
            name = args.run.name
        else:
            name = fixture_run(scratch).name
        studio = Studio(runs)
        try:
            results = {"grid": [grid_latency(studio.url, name, clients, args.requests) for clients in (1, 8)]}
        finally:
            studio.stop()
        results["explore_first_load"] = first_load(runs, name)
    results["cpus"] = os.cpu_count()
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"64-image grid of an mnist-preset run ({os.cpu_count()} CPUs)")
    print("clients  requests  p50 ms  p95 ms  grids/s")
    for row in results["grid"]:
        print(f"{row['clients']:>7}  {row['requests']:>8}  {row['p50_ms']:>6.1f}  {row['p95_ms']:>6.1f}  "
              f"{row['grids_per_s']:>7.1f}")
    load = results["explore_first_load"]
    if load is None:
        print("Explore's first load: skipped (needs playwright and Debian's chromium)")
    else:
        print(f"Explore's first load to its first grid: {load['cold_ms']:.0f} ms on a fresh server "
              f"(page ready at {load['page_ms']:.0f} ms), {load['warm_ms']:.0f} ms once warm")


if __name__ == "__main__":
    main()
