"""The Enhance page's work on uploaded images, one image at a time in a thread of the server, each kept as a record
on disk: projections into a noise-to-image run's generator (Generator.project, its progress reported as it goes)
and translations by an image-to-image run's translator (Translator.enhance).

Each projection is a folder RUNS/.studio/projections/<id>/ with state.json (run, checkpoint, state, progress,
summary, scores), target.png (the image as the model sees it: fitted to its size and channels), the upload itself
(original.<ext>), and once done Projection.save's files named projection.*: the latent (projection.json), its
image, target and image side by side, and the optimisation as a GIF. Variations, blends and re-classings are
made from the latent file, through Generator.variations/blend/render, which check that it belongs to the
generator.

Each translation is a folder RUNS/.studio/translations/<id>/ with state.json (run, checkpoint, task, direction,
state, progress in tiles, sizes, seconds), the upload (original.<ext>) and its mask for inpainting (mask.<ext>,
optional), and once done input.png (the upload as a PNG a browser shows) and output.png (the translator's result,
full size). Translations run in a thread rather than in the request, as projections do: a small image takes a
fraction of a second, but the presets' U-Net makes about half a megapixel a second on one CPU thread (2.1 s for a
1024x1024 result, measured on the shared 2-core development machine), so a result at the 16.7-megapixel limit
takes half a minute, too long to hold a request; the page polls the record's state meanwhile.

Either kind can be cancelled: a queued record at once, a running one where the API next reports progress (after
an optimisation step of a projection, a tile of a translation): the record's progress callback then raises
Cancelled, which the API lets through, so the work stops with no result; the record says `cancelled` and keeps no
result file. A studio started again finds the finished records; one that was still queued or running is marked
failed.
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

RECORD_ID = re.compile(r"^[0-9a-f]{12}$")
FILES = {"target.png", "projection.png", "projection-compare.png", "projection.gif", "projection.json"}
TRANSLATION_FILES = {"input.png", "output.png"}
PROGRESS_EVERY_S = 0.25  # a record's progress is written at most this often (and at its last step)


class Cancelled(Exception):
    """Raised by a record's progress callback once the record is asked to cancel: it stops the API's work."""


class ImageWork:
    """Records of one kind of work on uploaded images under `root`, done in order by one thread of the server, each
    holding one of the server's generation `slots` while it computes. `load(run name, checkpoint name)` gives the
    model."""

    what = "job"  # the work's name in messages

    def __init__(self, root: Path, load: Callable[[str, str], Any], slots: threading.Semaphore, pending: int = 8):
        self.root = root
        self.load = load
        self.slots = slots
        self.pending = pending
        self._queue: queue.Queue[str] = queue.Queue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closing = threading.Event()
        self._cancelling: set[str] = set()  # running records asked to cancel
        self._forget_unfinished()

    # --- the records ------------------------------------------------------------------------------------------
    def folder(self, record_id: str) -> Path:
        if not isinstance(record_id, str) or not RECORD_ID.fullmatch(record_id):
            raise KeyError(record_id)
        path = self.root / record_id
        if not (path / "state.json").is_file():
            raise KeyError(record_id)
        return path

    def state(self, record_id: str) -> dict[str, Any]:
        return json.loads((self.folder(record_id) / "state.json").read_text())

    def _write(self, folder: Path, state: dict[str, Any]) -> None:
        atomic_write_text(folder / "state.json", json.dumps(state, indent=1) + "\n")

    def _update(self, record_id: str, only_if: str | None = None, **changes: Any) -> dict[str, Any]:
        """The record with `changes` written; only_if: unless it is in another state (then left as it is)."""
        with self._lock:
            folder = self.root / record_id
            state = json.loads((folder / "state.json").read_text())
            if only_if is None or state["state"] == only_if:
                state.update(changes)
                self._write(folder, state)
            return state

    def cancel(self, record_id: str) -> dict[str, Any]:
        """Cancel a record: a queued one at once; a running one is marked `cancelling` and stops with no result the
        next time its work reports progress. An ended one is left as it is. Returns its state."""
        with self._lock:
            state = self.state(record_id)  # KeyError if there is no such record
            if state["state"] not in ("queued", "running"):
                return state
            if state["state"] == "queued":
                state.update(state="cancelled", ended=time.time())
            else:
                self._cancelling.add(record_id)
                state["cancelling"] = True
            self._write(self.root / record_id, state)
            return state

    def _progress(self, record_id: str) -> Callable[[int, int], None]:
        """The API's on_step for a record: its progress written now and then, and Cancelled raised once it is asked
        to cancel."""
        last = [0.0]

        def on_step(done: int, total: int) -> None:
            self._stop_if_cancelled(record_id, done=done, total=total)
            now = time.monotonic()
            if now - last[0] > PROGRESS_EVERY_S or done == total:
                last[0] = now
                self._update(record_id, done=done, total=total)

        return on_step

    def _stop_if_cancelled(self, record_id: str, **progress: int) -> None:
        if record_id in self._cancelling:
            if progress:
                self._update(record_id, **progress)
            raise Cancelled

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
                state.update(state="failed", error=f"the studio stopped before this {self.what} finished; drop the "
                                                   "image again")
                self._write(folder, state)

    def _new(self, image, original: bytes, extra_files: dict[str, bytes], **fields: Any) -> dict[str, Any]:
        """A queued record of the upload `original` (decoded as `image`), with `extra_files` beside it."""
        if self._queue.qsize() >= self.pending:
            raise OverflowError(f"{self.pending} {self.what}s are waiting already; wait for them to finish")
        record_id = secrets.token_hex(6)
        folder = self.root / record_id
        folder.mkdir(parents=True)
        suffix = "." + (image.format or "png").lower().replace("jpeg", "jpg")
        atomic_write_bytes(folder / f"original{suffix}", original)
        for name, data in extra_files.items():
            atomic_write_bytes(folder / name, data)
        state = {"id": record_id, **fields, "state": "queued", "created": time.time(), "error": None,
                 "original": f"original{suffix}"}
        self._write(folder, state)
        self._queue.put(record_id)
        return state

    # --- work -------------------------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name=f"ganvas-studio-{self.what}s", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._closing.set()
        self._queue.put("")
        if self._thread is not None:
            self._thread.join(5)

    def _loop(self) -> None:
        while not self._closing.is_set():
            record_id = self._queue.get()
            if not record_id:
                continue
            state = self._update(record_id, only_if="queued", state="running", started=time.time())
            if state["state"] != "running":  # cancelled while it waited
                continue
            try:
                self._work(record_id, state)
            except Cancelled:
                self._update(record_id, state="cancelled", ended=time.time())
            except Exception as err:  # noqa: BLE001 - a message for the page; the next record still runs
                from ganvas.errors import GanvasError

                text = err.worded("keyword") if isinstance(err, GanvasError) else \
                    f"the {self.what} failed ({type(err).__name__}); the studio's terminal has the details"
                if not isinstance(err, GanvasError):
                    import traceback

                    traceback.print_exc()
                self._update(record_id, state="failed", error=text, ended=time.time())
            finally:
                self._cancelling.discard(record_id)

    def _work(self, record_id: str, state: dict[str, Any]) -> None:
        """Do a record's work (its state says what); save its results only after _stop_if_cancelled."""
        raise NotImplementedError


class Projector(ImageWork):
    """Projections into a run's generator; `load` gives a Generator."""

    what = "projection"

    def submit(self, run: str, checkpoint: str, image, original: bytes, name: str, steps: int,
               class_: int | None) -> dict[str, Any]:
        return self._new(image, original, {}, run=run, checkpoint=checkpoint, name=name, steps=steps, done=0,
                         total=steps, summary=None, **{"class": class_})

    def _work(self, projection_id: str, state: dict[str, Any]) -> None:
        from PIL import Image

        folder = self.root / projection_id
        generator = self.load(state["run"], state["checkpoint"])
        with Image.open(folder / state["original"]) as image:
            image.load()
            target = image.copy()
        with self.slots:
            projections = generator.project([target], steps=state["steps"], class_=state["class"],
                                            names=["projection"], on_step=self._progress(projection_id))
        self._stop_if_cancelled(projection_id)
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


class Translations(ImageWork):
    """Translations by a run's translator; `load` gives a Translator (ganvas.load_translator's)."""

    what = "translation"
    tiling: dict[str, int] = {}  # Translator.enhance's tile and overlap where not its own (a test's small tiles)

    def submit(self, run: str, checkpoint: str, image, original: bytes, name: str, task: str, direction: str,
               mask: tuple[str, bytes] | None) -> dict[str, Any]:
        """Queue the upload `original` (decoded as `image`); `mask`: inpainting's mask upload, (suffix, bytes)."""
        extra = {f"mask{mask[0]}": mask[1]} if mask else {}
        return self._new(image, original, extra, run=run, checkpoint=checkpoint, name=name, task=task,
                         direction=direction, mask=next(iter(extra), None), input_size=list(image.size),
                         done=0, total=None)

    def _work(self, translation_id: str, state: dict[str, Any]) -> None:
        from PIL import Image

        from ganvas.errors import GanvasError

        folder = self.root / translation_id
        translator = self.load(state["run"], state["checkpoint"])
        with Image.open(folder / state["original"]) as image:
            shown = image.convert("RGBA" if "A" in image.getbands() or "transparency" in image.info else "RGB")
        shown.save(folder / "input.png")
        began = time.monotonic()
        try:
            with self.slots:
                images = translator.enhance(folder / state["original"], state["direction"],
                                            folder / state["mask"] if state["mask"] else None,
                                            on_step=self._progress(translation_id), **self.tiling)
        except GanvasError as err:  # its message names the files: say the upload's names, not the record's paths
            text = str(err.args[0]).replace(str(folder / state["original"]), state["name"])
            err.args = (text.replace(str(folder / (state["mask"] or "mask")), "the mask"), *err.args[1:])
            raise
        self._stop_if_cancelled(translation_id)
        output = Image.fromarray(images.pixels[0])  # (H, W) for a grey image, else (H, W, C)
        output.save(folder / "output.png")
        self._update(translation_id, state="done", ended=time.time(), seconds=round(time.monotonic() - began, 3),
                     output_size=list(output.size), step=translator.info.step)
