"""Shared by the studio's tests (test_studio_api, test_studio_browser, test_studio_load): fixture runs, trained once
per session and copied into each test's runs folder, and a studio server started as `ganvas studio` in a process
of its own on 127.0.0.1. This module holds no tests itself."""

from __future__ import annotations

import atexit
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from conftest import digit_like_images, write_mnist_split

_TRAINED: dict[str, Path] = {}
_TRANSLATORS: dict[str, Path] = {}
_LOCK = threading.Lock()
_HOME = Path(tempfile.mkdtemp(prefix="ganvas-studio-fixtures-"))
atexit.register(shutil.rmtree, _HOME, True)


def stand_in_digits(folder: Path) -> Path:
    """256 stand-in digits in both splits (a GANVAS_DATA_DIR for named-dataset runs)."""
    pixels, labels = digit_like_images(256)
    for split in ("train", "test"):
        write_mnist_split(folder, pixels, labels, split)
    return folder


@contextmanager
def _private_home():
    """GANVAS_HOME in the fixtures' folder while the fixture runs train (their decoded-image caches go there)."""
    home = os.environ.get("GANVAS_HOME")
    os.environ["GANVAS_HOME"] = str(_HOME / "home")
    try:
        yield
    finally:
        if home is None:
            os.environ.pop("GANVAS_HOME", None)
        else:
            os.environ["GANVAS_HOME"] = home


def _train_fixtures() -> dict[str, Path]:
    """Two finished runs: `digits` (the mnist preset: conditional, quality measured, alarms on) and `classic` (the
    seed preset's MLP). Trained once per session, in a private GANVAS_HOME."""
    with _LOCK:
        if _TRAINED:
            return _TRAINED
        import ganvas

        data = stand_in_digits(_HOME / "data")
        with _private_home():
            common = dict(data_dir=str(data), split="test", steps=40, batch_size=32, log_every=5, sample_every=20,
                          checkpoint_every=20, progress=False, device="cpu")
            ganvas.train(preset="mnist", run=_HOME / "runs" / "digits", eval_every=20, eval_images=64, **common)
            ganvas.train(preset="seed", run=_HOME / "runs" / "classic", eval_every=0, **common)
        _TRAINED.update(digits=_HOME / "runs" / "digits", classic=_HOME / "runs" / "classic")
        return _TRAINED


def squares(folder: Path, count: int = 12, seed: int = 0, side: int = 24) -> Path:
    """`count` RGBA pictures e00.png, e01.png, ...: a coloured square on a transparent margin, placed by the seed."""
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        rng = np.random.default_rng(seed + index)
        pixels = np.zeros((side, side, 4), dtype=np.uint8)
        top, left = rng.integers(2, side // 2, size=2)
        pixels[top:top + side // 3, left:left + side // 3] = [*rng.integers(40, 255, size=3), 255]
        Image.fromarray(pixels, "RGBA").save(folder / f"e{index:02d}.png")
    return folder


def translator_run(runs: Path, task: str) -> Path:
    """A tiny finished translator run of `task` (upscale, inpaint, cyclegan, ...: 4 steps at 16 px, width 8, on
    generated squares; cyclegan between two such folders), trained once per session and copied to runs/TASK."""
    with _LOCK:
        if task not in _TRANSLATORS:
            import ganvas

            data = squares(_HOME / "squares")
            second = squares(_HOME / "squares-b", seed=100) if task in ("paired", "cyclegan") else None
            with _private_home():
                ganvas.train(task=task, data=str(data), data_b=second and str(second), run=_HOME / "runs" / task,
                             size=16, width=8, batch_size=4, steps=4, log_every=2, sample_every=2, checkpoint_every=2,
                             eval_every=2, holdout=2, progress=False, device="cpu")
            _TRANSLATORS[task] = _HOME / "runs" / task
    runs.mkdir(parents=True, exist_ok=True)
    shutil.copytree(_TRANSLATORS[task], runs / task)
    return runs / task


def fixture_runs(runs: Path, names=("digits", "classic")) -> Path:
    """A runs folder holding copies of the fixture runs."""
    trained = _train_fixtures()
    runs.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copytree(trained[name], runs / name)
    return runs


class StudioProcess:
    """`ganvas studio --port 0` in a process of its own, on 127.0.0.1 only; `.url` is what it printed."""

    def __init__(self, runs: Path, data_roots=(), extra_env=None, args=()):
        command = [sys.executable, "-m", "ganvas", "studio", "--runs", str(runs), "--port", "0", *args]
        for root in data_roots:
            command += ["--data-root", str(root)]
        env = {**os.environ, "OMP_NUM_THREADS": "1", **(extra_env or {})}
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        self.url = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                break
            found = re.search(r"(http://\S+)", line)
            if found:
                self.url = found[1].rstrip("/")
                break
        if self.url is None:
            self.stop()
            raise RuntimeError(f"the studio did not start: {self.process.stderr.read()[-2000:]}")
        assert self.url.startswith("http://127.0.0.1:"), self.url  # loopback only, ever
        self.stderr_lines: list[str] = []
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        for line in self.process.stderr:
            self.stderr_lines.append(line)

    @property
    def pid(self) -> int:
        return self.process.pid

    def rss_bytes(self) -> int:
        with open(f"/proc/{self.pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        raise RuntimeError("no VmRSS")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@contextmanager
def held_after_first_pass(network):
    """Every pass of `network` after its first waits until the test sets the yielded event (at most 60 s): work done a
    tile or a step at a time can be watched, and cancelled, half-way. Yields (the event, a list with an item per
    pass begun)."""
    gate, passes = threading.Event(), []

    def hold(_module, _inputs) -> None:
        passes.append(len(passes) + 1)
        if len(passes) > 1:
            gate.wait(60)

    handle = network.register_forward_pre_hook(hold)
    try:
        yield gate, passes
    finally:
        gate.set()
        handle.remove()


def wait_for(condition, timeout: float = 60, every: float = 0.2, what: str = "condition"):
    """Poll `condition` until it returns something true; that value, or AssertionError after `timeout` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def stop_workers(runs: Path, timeout: float = 30) -> None:
    """Ask every run under `runs` still being trained to stop, and wait until none is (a test's clean-up)."""
    import ganvas
    from ganvas.runfolder import is_being_trained

    training = [child for child in runs.iterdir() if child.is_dir() and is_being_trained(child)]
    for child in training:
        ganvas.Run(child).stop()
    wait_for(lambda: not any(is_being_trained(child) for child in training), timeout, what="training to stop")


def post_json(url: str, body=None, timeout: float = 30):
    """POST to a studio on 127.0.0.1 as its own page would (same Origin)."""
    import httpx2

    origin = re.match(r"http://[^/]+", url)[0]
    assert origin.startswith("http://127.0.0.1:"), origin
    return httpx2.post(url, json=body or {}, headers={"Origin": origin}, timeout=timeout)


def stop_studio_training(studio: StudioProcess, timeout: float = 60) -> None:
    """Stop every job the studio started (queued ones are cancelled) and wait until none is active."""
    import httpx2

    def active():
        jobs = httpx2.get(f"{studio.url}/api/queue", timeout=30).json()["queue"]
        return [job for job in jobs if job["state"] in ("queued", "starting", "training")]

    for job in active():
        post_json(f"{studio.url}/api/queue/{job['id']}/cancel")
    wait_for(lambda: not active(), timeout, what="the studio's trainings to stop")
