"""The Enhance page's projections: an uploaded image projected into a run's generator (Generator.project), one at a
time in a thread of the server, its progress reported as it goes, its results kept on disk.

Each projection is a folder RUNS/.studio/projections/<id>/ with state.json (run, checkpoint, state, progress,
summary, scores), target.png (the image as the model sees it: fitted to its size and channels), the upload itself
(original.<ext>), and once done Projection.save's files named projection.*: the latent (projection.json), its
image, target and image side by side, and the optimisation as a GIF. Variations, blends and re-classings are
made from the latent file, through Generator.variations/blend/render, which check that it belongs to the
generator. A studio started again finds the finished ones; one that was still queued or running is marked failed.
"""

from __future__ import annotations

import json
import re
import queue
import secrets
import threading
import time
from pathlib import Path
from typing import Any, Callable

from ganvas.files import atomic_write_bytes, atomic_write_text

PROJECTION_ID = re.compile(r"^[0-9a-f]{12}$")
FILES = {"target.png", "projection.png", "projection-compare.png", "projection.gif", "projection.json"}


class Projector:
    def __init__(self, root: Path, load: Callable[[str, str], Any], slots: threading.Semaphore, pending: int = 8):
        self.root = root
        self.load = load  # (run name, checkpoint name) -> Generator
        self.slots = slots
        self.pending = pending
        self._queue: queue.Queue[str] = queue.Queue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closing = threading.Event()
        self._forget_unfinished()

    # --- the records ------------------------------------------------------------------------------------------
    def folder(self, projection_id: str) -> Path:
        if not isinstance(projection_id, str) or not PROJECTION_ID.fullmatch(projection_id):
            raise KeyError(projection_id)
        path = self.root / projection_id
        if not (path / "state.json").is_file():
            raise KeyError(projection_id)
        return path

    def state(self, projection_id: str) -> dict[str, Any]:
        return json.loads((self.folder(projection_id) / "state.json").read_text())

    def _write(self, folder: Path, state: dict[str, Any]) -> None:
        atomic_write_text(folder / "state.json", json.dumps(state, indent=1) + "\n")

    def _update(self, projection_id: str, **changes: Any) -> dict[str, Any]:
        with self._lock:
            folder = self.root / projection_id
            state = json.loads((folder / "state.json").read_text())
            state.update(changes)
            self._write(folder, state)
            return state

    def for_run(self, run: str) -> list[dict[str, Any]]:
        if not self.root.is_dir():
            return []
        found = []
        for folder in self.root.iterdir():
            try:
                state = json.loads((folder / "state.json").read_text())
            except (OSError, ValueError):
                continue
            if state.get("run") == run:
                found.append(state)
        return sorted(found, key=lambda state: -state.get("created", 0))

    def _forget_unfinished(self) -> None:
        if not self.root.is_dir():
            return
        for folder in self.root.iterdir():
            try:
                state = json.loads((folder / "state.json").read_text())
            except (OSError, ValueError):
                continue
            if state.get("state") in ("queued", "running"):
                state.update(state="failed", error="the studio stopped before this projection finished; drop the "
                                                   "image again")
                self._write(folder, state)

    # --- work -------------------------------------------------------------------------------------------------
    def submit(self, run: str, checkpoint: str, image, original: bytes, name: str, steps: int,
               class_: int | None) -> dict[str, Any]:
        if self._queue.qsize() >= self.pending:
            raise OverflowError(f"{self.pending} projections are waiting already; wait for them to finish")
        projection_id = secrets.token_hex(6)
        folder = self.root / projection_id
        folder.mkdir(parents=True)
        suffix = "." + (image.format or "png").lower().replace("jpeg", "jpg")
        atomic_write_bytes(folder / f"original{suffix}", original)
        state = {"id": projection_id, "run": run, "checkpoint": checkpoint, "name": name, "steps": steps,
                 "class": class_, "state": "queued", "done": 0, "total": steps, "created": time.time(),
                 "error": None, "summary": None, "original": f"original{suffix}"}
        self._write(folder, state)
        self._queue.put(projection_id)
        return state

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="ganvas-studio-projections", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._closing.set()
        self._queue.put("")
        if self._thread is not None:
            self._thread.join(5)

    def _loop(self) -> None:
        while not self._closing.is_set():
            projection_id = self._queue.get()
            if not projection_id:
                continue
            try:
                self._project(projection_id)
            except Exception as err:  # noqa: BLE001 - a message for the page; the next projection still runs
                from ganvas.errors import GanvasError

                text = err.worded("keyword") if isinstance(err, GanvasError) else \
                    f"the projection failed ({type(err).__name__}); the studio's terminal has the details"
                if not isinstance(err, GanvasError):
                    import traceback

                    traceback.print_exc()
                self._update(projection_id, state="failed", error=text, ended=time.time())

    def _project(self, projection_id: str) -> None:
        from PIL import Image

        folder = self.root / projection_id
        state = self._update(projection_id, state="running", started=time.time())
        generator = self.load(state["run"], state["checkpoint"])
        with Image.open(folder / state["original"]) as image:
            image.load()
            target = image.copy()
        last = [0.0]

        def on_step(done: int, total: int) -> None:
            now = time.monotonic()
            if now - last[0] > 0.25 or done == total:
                last[0] = now
                self._update(projection_id, done=done, total=total)

        with self.slots:
            projections = generator.project([target], steps=state["steps"], class_=state["class"],
                                            names=["projection"], on_step=on_step)
        found = projections[0]
        found.save(folder)
        found.target.save(folder / "target.png")
        summary = found.summary().replace("projection: ", "", 1)
        self._update(projection_id, state="done", ended=time.time(), summary=summary, found_class=found.class_,
                     psnr=found.psnr, ssim=found.ssim, random_psnr=found.random_psnr, random_ssim=found.random_ssim,
                     notes=list(projections.notes), step=generator.info.step)

    def latent_path(self, projection_id: str) -> Path:
        path = self.folder(projection_id) / "projection.json"
        if not path.is_file():
            raise FileNotFoundError(projection_id)
        return path
