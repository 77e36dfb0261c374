"""The studio's web app: a FastAPI app serving the pages (static/) and the JSON, image and live-update API.

Everything it shows comes from the public API (ganvas.runs, ganvas.Run, ganvas.load and the Generator's
sample, walk, variations and project; ganvas.load_translator and the Translator's enhance) and from the run
folders' documented files. Security, as docs/studio.md says:
`Guard` checks the Host header (loopback names only, unless a token is set), the access token when there is one,
the origin (or the token) of every state-changing request, and body sizes; `safepath` keeps every path inside
--runs and the --data-root folders; every query parameter is bounded.
"""

from __future__ import annotations

import asyncio
import hmac
import io
import ipaddress
import json
import logging
import os
import shutil
import tempfile
import threading
import uuid
from contextlib import asynccontextmanager
from dataclasses import asdict
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import numpy as np
import torch
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

import ganvas
from ganvas.errors import GanvasError
from ganvas.runfolder import is_being_trained
from ganvas.studio import runs as runview
from ganvas.studio.cache import GeneratorCache
from ganvas.studio.enhance import FILES as PROJECTION_FILES, TRANSLATION_FILES, Projector, Translations
from ganvas.studio.jobs import ENDED, JobQueue, QueueRefused
from ganvas.studio.safepath import RUN_NAME, PathRefused, check_run_name, inside, is_inside, links_out, run_path
from ganvas.studio.uploads import IMAGE_EXTENSIONS, Limits, UploadRefused, UploadStore, size_text

STATIC = Path(__file__).parent / "static"
STATE_DIR = ".studio"
JSON_BODY_BYTES = 1 * 2**20
LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}
RECORD_MEDIA_TYPES = {".png": "image/png", ".gif": "image/gif", ".json": "application/json"}  # Enhance records' files
# The options the Train page offers, beside the preset and the data; the API takes any training option but the ones
# that name files, which only come from the page's data choice (so they stay inside the studio's folders).
FORM_OPTIONS = ("model", "loss", "z_dim", "width", "batch_size", "lr_g", "lr_d", "ema_decay", "spectral_norm",
                "augment", "seed", "size", "fit", "channels", "labels", "steps", "minutes", "log_every",
                "sample_every", "checkpoint_every", "eval_every")
FILE_OPTIONS = ("data", "data_b", "data_dir", "dataset", "split", "preset", "config_file")
BOUNDS = {"batch_size": 4096, "z_dim": 4096, "width": 1024, "eval_images": 50_000, "n_critic": 100,
          "log_every": 10**7, "sample_every": 10**7, "checkpoint_every": 10**7, "keep_checkpoints": 1000,
          "epochs": 100_000}
log = logging.getLogger("ganvas.studio")


class StudioError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


class BodyTooLarge(Exception):
    def __init__(self, limit: int):
        super().__init__(limit)
        self.limit = limit


def is_loopback(host: str) -> bool:
    host = host.strip("[]")
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def host_name(header: str) -> str:
    """The host of a Host header, without its port ("[::1]:8765" -> "::1")."""
    if header.startswith("["):
        return header[1:header.find("]")] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


class Guard:
    """ASGI middleware in front of every request (see the module's docstring)."""

    def __init__(self, app, token: str | None, cookie: str, upload_bytes: int):
        self.app = app
        self.token = token
        self.cookie = cookie
        self.upload_bytes = upload_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":
            return await self.app(scope, receive, send)
        if scope["type"] != "http":  # no websockets
            return
        send = self._with_headers(send, scope["path"].startswith("/api/"))
        headers = {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope["headers"]}
        host = headers.get("host", "")
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        method = scope["method"]
        api = scope["path"].startswith("/api/")

        if self.token is None and not is_loopback(host_name(host)):
            return await self.refuse(send, 403, "this studio answers only to its loopback address (127.0.0.1 or "
                                                "localhost): start it with --host to serve others", api)
        by_header = self.token is not None and (self._match(headers.get("x-ganvas-token"))
                                                or self._match(query.get("token")))
        if self.token is not None and not by_header and not self._match(self._cookie(headers)):
            return await self.refuse(send, 403, "this studio needs its access token: open the URL it printed "
                                                "(http://HOST:PORT/?token=...)", api)
        if by_header and method == "GET" and not api and "token" in query:
            # the first visit: keep the token in a cookie and drop it from the address bar
            rest = urlencode([(k, v) for k, v in parse_qsl(scope["query_string"].decode("latin-1")) if k != "token"])
            response = RedirectResponse(scope["path"] + (f"?{rest}" if rest else ""), status_code=303)
            response.set_cookie(self.cookie, self.token, httponly=True, samesite="strict")
            return await response(scope, receive, send)
        if method not in ("GET", "HEAD"):
            origin = headers.get("origin")
            same_origin = origin is not None and origin == f"{scope.get('scheme', 'http')}://{host}"
            if not (same_origin or by_header):
                return await self.refuse(send, 403, "a request that changes something needs the studio's own page "
                                                    "as its origin, or the token", api)
            uploading = scope["path"] == "/api/uploads" or scope["path"].endswith(("/projections", "/translations"))
            limit = self.upload_bytes if uploading else JSON_BODY_BYTES
            length = headers.get("content-length")
            if length is not None and (not length.isdigit() or int(length) > limit):
                return await self.refuse(send, 413, f"the request is larger than the {size_text(limit)} limit", api)
            receive = self._counting(receive, limit)
        return await self.app(scope, receive, send)

    @staticmethod
    def _with_headers(send, api: bool):
        extra = [(key.lower().encode(), value.encode()) for key, value in SECURITY_HEADERS.items()]

        async def sending(message):
            if message["type"] == "http.response.start":
                present = {key.lower() for key, _ in message.get("headers", [])}
                headers = [*message.get("headers", []), *(item for item in extra if item[0] not in present)]
                if api and b"cache-control" not in present:
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)
        return sending

    def _match(self, given: str | None) -> bool:
        return bool(given) and hmac.compare_digest(given.encode(), self.token.encode())

    def _cookie(self, headers: dict[str, str]) -> str | None:
        jar = SimpleCookie()
        try:
            jar.load(headers.get("cookie", ""))
        except Exception:  # noqa: BLE001 - a malformed cookie header is just no cookie
            return None
        return jar[self.cookie].value if self.cookie in jar else None

    @staticmethod
    def _counting(receive, limit: int):
        seen = 0

        async def counted():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit)
            return message
        return counted

    @staticmethod
    async def refuse(send, status: int, message: str, api: bool) -> None:
        if api:
            body, kind = json.dumps({"error": message}).encode(), b"application/json"
        else:
            body, kind = f"<!doctype html><title>ganvas studio</title><p>{message}</p>".encode(), b"text/html"
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", kind), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; "
                               "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'",
}


class Studio:
    """The studio's state: its folders, the training queue, the generator cache, uploads and limits."""

    def __init__(self, runs: Path, data_roots: list[Path], limits: Limits, max_running: int, cache_bytes: int,
                 python: str | None, poll_s: float):
        self.runs_root = Path(runs).absolute()
        self.runs_root.mkdir(parents=True, exist_ok=True)
        self.state_dir = self.runs_root / STATE_DIR
        self.tmp_dir = self.state_dir / "tmp"
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        self.data_roots = [Path(root).absolute() for root in data_roots]
        for root in self.data_roots:
            if not root.is_dir():
                raise GanvasError(f"data root {root} is not a folder")
        self.limits = limits
        self.jobs = JobQueue(self.runs_root, self.state_dir, max_running, **({"python": python} if python else {}),
                             poll_s=poll_s)
        self.cache = GeneratorCache(cache_bytes)
        self.uploads = UploadStore(self.state_dir / "uploads", limits)
        self.slots = threading.BoundedSemaphore(generation_slots())  # generations at once (bounds CPU and memory)
        self.streams = 0
        self.streams_lock = threading.Lock()
        self.projector = Projector(self.state_dir / "projections", self.generator, self.slots) \
            if hasattr(ganvas.Generator, "project") else None
        self.translations = Translations(self.state_dir / "translations", self.translator, self.slots)

    def run_dirs(self) -> list[Path]:
        """The folders under --runs that may be runs: named as runs are, and not links that lead out (ganvas.runs
        would read their config.json, wherever they point)."""
        return [child for child in sorted(self.runs_root.iterdir()) if RUN_NAME.fullmatch(child.name)
                and child.is_dir() and is_inside(child, self.runs_root)]

    def run_dir(self, name: str, must_exist: bool = True) -> Path:
        path = run_path(self.runs_root, name)
        if must_exist and not (path / "config.json").is_file():
            raise StudioError(404, f"no run {name!r} in the runs folder")
        return path

    def checkpoint(self, run_dir: Path, name: str) -> str:
        if name == "latest":
            latest = runview.latest_checkpoint(run_dir)
            if latest is None:
                raise StudioError(404, f"run {run_dir.name} has no checkpoint yet: it saves one every "
                                       "checkpoint_every steps and when it stops")
            return latest
        if name not in {item["name"] for item in runview.checkpoints(run_dir)}:
            raise StudioError(404, f"run {run_dir.name} has no checkpoint {name!r}")
        return name

    def generator(self, run_name: str, checkpoint: str) -> ganvas.Generator:
        run_dir = self.run_dir(run_name)
        return self.cache.get(run_dir, self.checkpoint(run_dir, checkpoint))

    def translator(self, run_name: str, checkpoint: str) -> ganvas.Translator:
        run_dir = self.run_dir(run_name)
        return self.cache.get(run_dir, self.checkpoint(run_dir, checkpoint), kind="translator")

    def data_root(self, index: int) -> Path:
        if not 0 <= index < len(self.data_roots):
            raise StudioError(404, f"no data root {index}" + ("" if self.data_roots else
                                                             ": start the studio with --data-root FOLDER"))
        return self.data_roots[index]

    def cards(self) -> list[dict[str, Any]]:
        """Every run's card, with its job, and a card for each job whose run has no folder yet."""
        jobs = self.jobs.snapshot()
        by_run: dict[str, dict] = {}
        for job in jobs:  # queued and active jobs first, else the latest ended one
            current = by_run.get(job["run"])
            if current is None or (current["state"] in ENDED and
                                   (job["state"] not in ENDED or (job["ended"] or 0) > (current["ended"] or 0))):
                by_run[job["run"]] = job
        cards = []
        for path in self.run_dirs():
            card = runview.card(path)
            if card is not None:
                card["job"] = by_run.pop(path.name, None)
                cards.append(card)
        cards.sort(key=lambda card: -(card["updated"] or 0))  # as ganvas.runs lists them: latest first
        pending = [{"name": name, "status": job["state"], "step": 0, "preset": job["options"].get("preset"),
                    "model": job["options"].get("model"), "dataset": None, "stats": {}, "quality": {}, "alarms": {},
                    "grid": None, "has_checkpoint": False, "job": job, "updated": job["created"]}
                   for name, job in by_run.items() if job["state"] != "cancelled" and not
                   (self.runs_root / name / "config.json").is_file()]
        for card in cards:
            job = card["job"]
            if job is not None and job["state"] in ("queued", "starting") and card["status"] != "training":
                card["status"] = job["state"]
        return pending + cards


def generation_slots() -> int:
    """How many requests generate images at once: one per core, at most 4 (serve() gives each cpus // slots
    torch threads)."""
    return min(4, os.cpu_count() or 1)


def clean(value: Any) -> Any:
    """JSON-able for a browser: NaN and Infinity (which JSON lacks) become None, at any depth."""
    if isinstance(value, float):
        return runview.finite(value)
    if isinstance(value, dict):
        return {key: clean(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(item) for item in value]
    return value


def bounded(value: Any, name: str, low: float, high: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return  # the config's own checks name the wrong type
    if not low <= value <= high:
        raise StudioError(400, f"{name} must be from {low:g} to {high:g}, got {value}")


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers={"Cache-Control": "no-store"})


def png(image, download: str | None = None) -> Response:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    headers = {"Cache-Control": "no-cache"}
    if download:
        headers["Content-Disposition"] = f'attachment; filename="{download}"'
    return Response(buffer.getvalue(), media_type="image/png", headers=headers)


def sse(kind: str, data: Any) -> bytes:
    text = json.dumps(clean(data), separators=(",", ":"), default=str, allow_nan=False)
    return f"event: {kind}\ndata: {text}\n\n".encode()


def create_app(runs: str | Path = "runs", data_roots: list[str | Path] = (), *, token: str | None = None,
               max_running: int = 1, limits: Limits = Limits(), cache_bytes: int = 512 * 2**20,
               python: str | None = None, poll_s: float = 0.5, port: int | None = None) -> FastAPI:
    """The studio app for the runs under `runs` and the data folders `data_roots`.

    token: needed on every request when set (serve() sets one for any host but loopback). max_running: trainings
    at a time. python: the interpreter of the training processes (default this one).
    """
    studio = Studio(Path(runs), [Path(root) for root in data_roots], limits, max_running, cache_bytes, python,
                    poll_s)

    @asynccontextmanager
    async def lifespan(app):
        studio.jobs.start()
        studio.translations.start()
        if studio.projector:
            studio.projector.start()
        try:
            yield
        finally:
            studio.jobs.close()
            studio.translations.close()
            if studio.projector:
                studio.projector.close()

    app = FastAPI(title="ganvas studio", version=ganvas.__version__, lifespan=lifespan, docs_url=None,
                  redoc_url=None, openapi_url=None)
    app.state.studio = studio

    app.add_middleware(Guard, token=token, cookie=f"ganvas_studio_{port or 'token'}",
                       upload_bytes=limits.upload_bytes)

    # --- errors: a message for the page, never a stack trace ------------------------------------------------------
    @app.exception_handler(StudioError)
    async def studio_error(request, err: StudioError):
        return error(err.status, err.message)

    @app.exception_handler(GanvasError)
    async def ganvas_error(request, err: GanvasError):
        return error(400, err.worded("keyword"))

    @app.exception_handler(PathRefused)
    async def path_refused(request, err: PathRefused):
        return error(400, str(err))

    @app.exception_handler(UploadRefused)
    async def upload_refused(request, err: UploadRefused):
        return error(400, str(err))

    @app.exception_handler(QueueRefused)
    async def queue_refused(request, err: QueueRefused):
        return error(409, str(err))

    @app.exception_handler(BodyTooLarge)
    async def too_large(request, err: BodyTooLarge):
        return error(413, f"the request is larger than the {size_text(err.limit)} limit")

    @app.exception_handler(RequestValidationError)
    async def bad_parameter(request, err: RequestValidationError):
        problems = []
        for item in err.errors()[:3]:
            where = ".".join(str(part) for part in item.get("loc", ())[1:]) or "request"
            problems.append(f"{where}: {item.get('msg', 'invalid')}")
        return error(400, "bad parameter " + "; ".join(problems))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request, err: StarletteHTTPException):
        message = {404: "not found", 405: "method not allowed"}.get(err.status_code, str(err.detail))
        return error(err.status_code, message)

    @app.exception_handler(Exception)
    async def internal(request, err: Exception):
        log.exception("ganvas studio: error in %s %s", request.method, request.url.path)
        return error(500, f"the studio hit an internal error ({type(err).__name__}); its terminal has the details")

    # --- pages --------------------------------------------------------------------------------------------------
    index_html = (STATIC / "index.html").read_text()

    @app.get("/", response_class=HTMLResponse)
    def index():
        return HTMLResponse(index_html, headers={"Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    # --- runs ---------------------------------------------------------------------------------------------------
    @app.get("/api/info")
    def info():
        return {"version": ganvas.__version__, "runs": str(studio.runs_root),
                "data_roots": [{"index": i, "name": root.name, "path": str(root)}
                               for i, root in enumerate(studio.data_roots)],
                "limits": asdict(limits), "max_running": max_running, "token": token is not None,
                "enhance": studio.projector is not None}

    @app.get("/api/presets")
    def presets():
        from ganvas.config import PRESETS, TWO_FOLDER_TASKS, options, option_type, preset_config
        from ganvas.models import model_names

        fields = {field.name: field for field in options()}
        described = []
        for name in FORM_OPTIONS:
            field = fields[name]
            models = model_names(None) if name == "model" else None  # every kind: unet for the tasks too
            choices = list(field.metadata["choices"] or ()) or models
            described.append({"name": name, "type": option_type(field).__name__, "help": field.metadata["help"],
                              "group": field.metadata["group"], "choices": choices,
                              "nullable": field.default is None})
        found = {}
        for name, description in ganvas.presets().items():
            task = PRESETS[name].options.get("task", "generate")
            own_images = PRESETS[name].for_data is not None
            size = 32 if task == "generate" else 64  # the translation presets are tuned at 64 px
            extra = {"data": "images", "size": size} if own_images else {}
            if task in TWO_FOLDER_TASKS:
                extra["data_b"] = "images-b"
            config = preset_config(name, count_images=lambda config: 100, **extra).to_dict()
            found[name] = {"description": description, "own_images": own_images, "task": task,
                           "two_folders": task in TWO_FOLDER_TASKS, "size": size,
                           "defaults": {key: runview.finite(config[key]) for key in FORM_OPTIONS if key not in extra}}
        return {"presets": found, "options": described, "datasets": list(fields["dataset"].metadata["choices"])}

    @app.get("/api/runs")
    def list_runs():
        return {"runs": studio.cards(), "queue": studio.jobs.snapshot()}

    @app.get("/api/runs/{name}")
    def run_detail(name: str):
        path = studio.run_dir(name, must_exist=False)
        found = runview.detail(path)
        job = studio.jobs.job_for(name)
        if found is None:
            if job is None or job.state == "cancelled":
                raise StudioError(404, f"no run {name!r} in the runs folder")
            found = {"name": name, "status": job.state, "step": 0, "config": {}, "checkpoints": [], "samples": [],
                     "stats": {}, "quality": {}, "alarms": {}, "grid": None, "preset": job.options.get("preset")}
        elif job is not None and job.state in ("queued", "starting") and found["status"] != "training":
            found["status"] = job.state
        found["job"] = job.to_dict() if job else None
        return found

    @app.get("/api/runs/{name}/curves")
    def curves(name: str):
        return runview.curves(studio.run_dir(name))

    @app.get("/api/runs/{name}/log")
    def log_tail(name: str, lines: int = Query(200, ge=1, le=limits.log_lines)):
        return {"lines": runview.log_tail(studio.run_dir(name), lines)}

    @app.get("/api/runs/{name}/samples/{file}")
    def sample_file(name: str, file: str):
        run_dir = studio.run_dir(name)
        if file != "latest.png" and not runview.SAMPLE_FILE.match(file):
            raise StudioError(404, "no such sample grid")
        path = run_dir / "samples" / file
        if not is_inside(path, run_dir) or not path.is_file():
            raise StudioError(404, "no such sample grid")
        return FileResponse(path, media_type="image/png", headers={"Cache-Control": "no-cache"})

    # --- generating ---------------------------------------------------------------------------------------------
    def generate(work):
        with studio.slots, torch.no_grad():
            return work()

    seed_q = Query(0, ge=0, le=limits.seed)
    trunc_q = Query(1.0, gt=0, le=1)
    class_q = Query(None, alias="class", ge=0, le=100_000)
    scale_q = Query(1, ge=1, le=limits.scale)
    check_q = Query("latest", max_length=40)

    def tiles(generator, seed: int, n: int, columns: int, class_: int | None, truncation: float):
        """Tile i is the image of seed + i (what sample(1, seed + i) draws, image.png shows, and variations and
        walks start from), all n drawn in one batch: the latent of each seed as a Latent, through render."""
        from ganvas.latentfile import Latent
        from ganvas.latents import gaussian_latents

        if seed + n - 1 > limits.seed:
            raise StudioError(400, f"seed + n must stay under {limits.seed}")
        classes = generator.info.classes
        if class_ is not None and not classes:
            generator.sample(1, class_=class_)  # the API's own message: this generator is unconditional
        chosen = [class_ if class_ is not None or not classes else (index // columns) % classes for index in range(n)]
        latents = [Latent(gaussian_latents(1, generator.info.z_dim, seed + index)[0], chosen[index])
                   for index in range(n)]
        return generator.render(latents, truncation=truncation)

    @app.get("/api/runs/{name}/generator")
    def generator_info(name: str, checkpoint: str = check_q):
        generator = studio.generator(name, checkpoint)
        info = generator.info
        return {"checkpoint": info.path.name, "step": info.step, "model": info.model, "preset": info.preset,
                "dataset": info.dataset, "image_shape": list(info.image_shape), "z_dim": info.z_dim,
                "classes": info.classes, "checkpoints": runview.checkpoints(studio.run_dir(name))}

    @app.get("/api/runs/{name}/grid.png")
    def grid(name: str, seed: int = seed_q, n: int = Query(64, ge=1, le=limits.images),
             columns: int = Query(8, ge=1, le=16), truncation: float = trunc_q, class_: int | None = class_q,
             checkpoint: str = check_q, scale: int = scale_q, download: bool = False):
        generator = studio.generator(name, checkpoint)
        images = generate(lambda: tiles(generator, seed, n, columns, class_, truncation))
        return png(images.grid(columns=min(columns, n), scale=scale),
                   f"{name}-seeds-{seed}-{seed + n - 1}.png" if download else None)

    @app.get("/api/runs/{name}/image.png")
    def one_image(name: str, seed: int = seed_q, truncation: float = trunc_q, class_: int | None = class_q,
                  checkpoint: str = check_q, scale: int = Query(4, ge=1, le=limits.scale), download: bool = False):
        generator = studio.generator(name, checkpoint)
        from PIL import Image

        images = generate(lambda: generator.sample(1, seed=seed, class_=class_, truncation=truncation))
        picture = Image.fromarray(np.ascontiguousarray(images.pixels[0]))  # the image alone, no grid padding
        picture = picture.resize((picture.width * scale, picture.height * scale), Image.NEAREST)
        return png(picture, f"{name}-seed-{seed}.png" if download else None)

    @app.get("/api/runs/{name}/variations.png")
    def variations(name: str, seed: int = seed_q, n: int = Query(16, ge=1, le=limits.images),
                   strength: float = Query(0.3, ge=0, le=1), columns: int = Query(8, ge=1, le=16),
                   truncation: float = trunc_q, class_: int | None = class_q, checkpoint: str = check_q,
                   scale: int = scale_q, download: bool = False):
        generator = studio.generator(name, checkpoint)
        images = generate(lambda: generator.variations(seed, n, strength, class_, truncation))
        return png(images.grid(columns=min(columns, n), scale=scale),
                   f"{name}-seed-{seed}-variations.png" if download else None)

    @app.get("/api/runs/{name}/walk.{kind}")
    def walk(name: str, kind: str, seeds: str = Query(..., max_length=400),
             frames: int = Query(60, ge=2, le=limits.frames), loop: bool = False,
             ease: str = Query("linear", pattern="^(linear|smooth)$"), fps: float = Query(20, ge=1, le=60),
             truncation: float = trunc_q, class_: int | None = class_q, checkpoint: str = check_q,
             scale: int = Query(2, ge=1, le=limits.scale), download: bool = False):
        if kind not in ("gif", "mp4"):
            raise StudioError(404, "a walk is walk.gif or walk.mp4")
        try:
            keyframes = [int(seed) for seed in seeds.split(",")]
        except ValueError:
            raise StudioError(400, "seeds must be whole numbers separated by commas, e.g. 1,7,42") from None
        if not 2 <= len(keyframes) <= limits.keyframes or not all(0 <= s <= limits.seed for s in keyframes):
            raise StudioError(400, f"a walk needs 2 to {limits.keyframes} seeds from 0 to {limits.seed}")
        generator = studio.generator(name, checkpoint)
        _, height, width = generator.info.image_shape
        if frames * height * width * scale * scale > limits.frames * 512 * 512:
            raise StudioError(400, "that walk is too large: use fewer frames or a smaller scale")
        animation = generate(lambda: generator.walk(keyframes, frames, loop, ease, class_, truncation, fps))
        animation.scale = scale
        out = studio.tmp_dir / f"walk-{uuid.uuid4().hex}.{kind}"
        try:
            animation.save(out)
            data = out.read_bytes()
        finally:
            out.unlink(missing_ok=True)
        headers = {"Cache-Control": "no-cache"}
        if download:
            headers["Content-Disposition"] = f'attachment; filename="{name}-walk-{"-".join(map(str, keyframes))}.{kind}"'
        return Response(data, media_type="image/gif" if kind == "gif" else "video/mp4", headers=headers)

    # --- data and uploads ---------------------------------------------------------------------------------------
    def count_images(folder: Path, cap: int = 10_000) -> int:
        count = 0
        for _, subfolders, files in os.walk(folder):
            subfolders[:] = [name for name in subfolders if not name.startswith(".")]
            count += sum(Path(name).suffix.lower() in IMAGE_EXTENSIONS for name in files if not name.startswith("."))
            if count >= cap:
                return cap
        return count

    def is_idx_folder(folder: Path) -> bool:
        return any("-idx3-ubyte" in path.name for path in folder.iterdir())

    @app.get("/api/data")
    def data_roots_list():
        return {"roots": [{"index": i, "name": root.name} for i, root in enumerate(studio.data_roots)]}

    @app.get("/api/data/{root}")
    def data_list(root: int, path: str = Query("", max_length=1000)):
        base = studio.data_root(root)
        folder = inside(base, path)
        if not folder.is_dir():
            raise StudioError(404, f"no folder {path!r} in data root {base.name}")
        entries = []
        for child in sorted(folder.iterdir())[:1000]:
            if child.name.startswith(".") or not is_inside(child, base):
                continue  # hidden, or a link that leads out of the data root
            relative = str(Path(path, child.name)) if path else child.name
            if child.is_dir():
                entries.append({"name": child.name, "path": relative, "kind": "idx" if is_idx_folder(child) else
                                "folder", "images": count_images(child)})
            elif child.suffix.lower() == ".zip":
                entries.append({"name": child.name, "path": relative, "kind": "zip", "bytes": child.stat().st_size})
        return {"root": root, "name": base.name, "path": path, "images": count_images(folder),
                "idx": is_idx_folder(folder), "entries": entries}

    @app.post("/api/uploads")
    async def upload(request: Request, name: str = Query("upload", min_length=1, max_length=255),
                     upload: str | None = Query(None, max_length=12)):
        spool = tempfile.SpooledTemporaryFile(max_size=4 * 2**20, dir=studio.tmp_dir)
        try:
            received = 0
            async for chunk in request.stream():
                received += len(chunk)
                if received > limits.upload_bytes:
                    raise BodyTooLarge(limits.upload_bytes)
                spool.write(chunk)
            if received == 0:
                raise StudioError(400, f"{name} is empty")
            return await run_in_threadpool(studio.uploads.add, spool, name, upload)
        finally:
            spool.close()

    # --- training -----------------------------------------------------------------------------------------------
    def data_options(data: Any) -> dict[str, Any]:
        """The data options of a Train request's data choice, every path checked to be inside the studio's folders."""
        if not isinstance(data, dict):
            raise StudioError(400, "data must be an object: {kind: dataset|folder|upload, ...}")
        kind = data.get("kind")
        if kind == "dataset":
            return {"dataset": data.get("dataset", "mnist"), "split": data.get("split", "train")}
        if kind == "upload":
            return {"data": str(studio.uploads.folder(data.get("upload")))}
        if kind == "folder":
            root = data.get("root")
            if not isinstance(root, int) or isinstance(root, bool):
                raise StudioError(400, "data.root must be the index of a data root")
            base = studio.data_root(root)
            chosen = inside(base, data.get("path") or "")
            if not chosen.exists():
                raise StudioError(404, f"no {data.get('path')!r} in data root {base.name}")
            if chosen.is_dir():
                leaks = links_out(chosen, base)
                if leaks:
                    raise StudioError(400, f"{chosen.name} links to files outside the data root ({leaks[0]}"
                                           f"{' and more' if len(leaks) > 1 else ''}); the studio reads nothing "
                                           "outside its folders")
                if is_idx_folder(chosen):
                    return {"data_dir": str(chosen), "dataset": data.get("dataset", "mnist"),
                            "split": data.get("split", "train")}
            elif chosen.suffix.lower() != ".zip":
                raise StudioError(400, f"{chosen.name} is neither a folder nor a zip of images")
            return {"data": str(chosen)}
        raise StudioError(400, "data.kind must be dataset, folder or upload")

    def check_options(options: Any) -> dict[str, Any]:
        from ganvas.config import SHORTHANDS, options as all_options

        if not isinstance(options, dict):
            raise StudioError(400, "options must be an object of training options")
        known = {field.name for field in all_options()} | set(SHORTHANDS)
        for key, value in options.items():
            if key in FILE_OPTIONS:
                raise StudioError(400, f"{key} comes from the data choice and the preset, not from options")
            if key not in known:
                raise StudioError(400, f"unknown training option {key!r}")
            bounded(value, key, 0, BOUNDS.get(key, float("inf")))
            if isinstance(value, str) and len(value) > 200:
                raise StudioError(400, f"{key} is too long")
        bounded(options.get("steps"), "steps", 1, limits.steps)
        bounded(options.get("minutes"), "minutes", 0, limits.minutes)
        return {key: value for key, value in options.items() if value is not None and value != ""}

    async def json_body(request: Request) -> dict[str, Any]:
        try:
            body = await request.json()
        except (ValueError, UnicodeDecodeError):
            raise StudioError(400, "the request body must be JSON") from None
        if not isinstance(body, dict):
            raise StudioError(400, "the request body must be a JSON object")
        return body

    @app.post("/api/train")
    async def train(request: Request):
        body = await json_body(request)
        return await run_in_threadpool(queue_training, body)

    def queue_training(body: dict[str, Any]) -> dict[str, Any]:
        name = check_run_name(body.get("name") or "")
        run_dir = studio.run_dir(name, must_exist=False)
        if run_dir.exists() and any(run_dir.iterdir()):
            raise StudioError(409, f"there is already a run {name!r}: pick another name, or resume it from its page")
        preset = body.get("preset") or "seed"
        if not isinstance(preset, str):
            raise StudioError(400, "preset must be a preset's name")
        given = body.get("options")
        options = {**check_options({} if given is None else given), **data_options(body.get("data")),
                   "preset": preset}
        if body.get("data_b") is not None:  # paired and cyclegan: the second folder, chosen as the first is
            second = data_options(body["data_b"])
            if set(second) != {"data"}:
                raise StudioError(400, "data_b must be a folder, a zip or an upload of images")
            options["data_b"] = second["data"]
        ganvas.check_training(**options)  # refuse bad options now, not in the training job
        job = studio.jobs.submit(name, "new", options)
        return {"run": name, "job": job.to_dict()}

    @app.post("/api/runs/{name}/stop")
    def stop(name: str):
        run_dir = studio.run_dir(name, must_exist=False)
        if studio.jobs.stop_run(name):
            return {"run": name, "stopping": True}
        if not (run_dir / "config.json").is_file():
            raise StudioError(404, f"no run {name!r} in the runs folder")
        if not is_being_trained(run_dir):
            raise StudioError(409, f"run {name} is not training")
        ganvas.Run(run_dir).stop()  # trained by a process the studio did not start: ask it through the run folder
        return {"run": name, "stopping": True}

    @app.post("/api/runs/{name}/resume")
    async def resume(name: str, request: Request):
        body = await json_body(request)
        return await run_in_threadpool(queue_resume, name, body)

    def queue_resume(name: str, body: dict[str, Any]) -> dict[str, Any]:
        from ganvas.config import resumed_run_config

        run_dir = studio.run_dir(name)
        if is_being_trained(run_dir) or studio.jobs.busy(name):
            raise StudioError(409, f"run {name} is already queued or training")
        if runview.latest_checkpoint(run_dir) is None:
            raise StudioError(409, f"run {name} has no checkpoint to resume from; start it again instead")
        lengths = {key: body[key] for key in ("steps", "minutes") if body.get(key) not in (None, "")}
        check_options(lengths)
        step = ganvas.Run(run_dir).step
        if isinstance(lengths.get("steps"), int) and lengths["steps"] <= step:
            raise StudioError(400, f"run {name} is at step {step}: resume it to a later step, or for some minutes")
        resumed_run_config(run_dir, lengths)
        job = studio.jobs.submit(name, "resume", lengths)
        return {"run": name, "job": job.to_dict()}

    @app.post("/api/runs/{name}/delete")
    def delete(name: str):
        run_dir = studio.run_dir(name)
        if is_being_trained(run_dir) or studio.jobs.busy(name):
            raise StudioError(409, f"run {name} is queued or training: stop it first")
        if run_dir.is_symlink():
            run_dir.unlink()  # a linked run: the link goes, what it points to stays
        else:
            shutil.rmtree(run_dir)
        studio.cache.forget(run_dir)
        return {"run": name, "deleted": True}

    @app.get("/api/queue")
    def queue():
        return {"queue": studio.jobs.snapshot(), "max_running": max_running}

    @app.post("/api/queue/{job_id}/cancel")
    def cancel(job_id: str):
        return {"job": studio.jobs.cancel(job_id).to_dict()}

    @app.post("/api/queue/{job_id}/dismiss")
    def dismiss(job_id: str):
        studio.jobs.dismiss(job_id)
        return {"dismissed": job_id}

    # --- enhance: projecting your own images (Generator.project) -------------------------------------------------
    def projection(projection_id: str) -> dict[str, Any]:
        if studio.projector is None:
            raise StudioError(404, "this ganvas has no projection")
        try:
            return studio.projector.state(projection_id)
        except (KeyError, OSError, ValueError):
            raise StudioError(404, f"no projection {projection_id!r}") from None

    def latent_of(projection_id: str) -> tuple[dict[str, Any], ganvas.Generator, Path]:
        found = projection(projection_id)
        if found["state"] != "done":
            raise StudioError(409, f"projection {projection_id} is {found['state']}, not done")
        return found, studio.generator(found["run"], found["checkpoint"]), studio.projector.latent_path(projection_id)

    async def image_body(request: Request, file: str) -> tuple[bytes, Any]:
        """The request's body, one image called `file`, and the image decoded (the uploads' checks)."""
        from ganvas.studio.uploads import check_image

        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > limits.upload_bytes:
                raise BodyTooLarge(limits.upload_bytes)
        if not body:
            raise StudioError(400, f"{file} is empty")
        data = bytes(body)
        return data, await run_in_threadpool(check_image, data, file, limits.image_pixels)

    @app.post("/api/runs/{name}/projections")
    async def project(request: Request, name: str, file: str = Query("image", alias="name", max_length=255),
                      steps: int = Query(100, ge=1, le=1000), class_: int | None = class_q,
                      checkpoint: str = check_q):
        if studio.projector is None:
            raise StudioError(404, "this ganvas has no projection")
        run_dir = studio.run_dir(name)
        chosen = studio.checkpoint(run_dir, checkpoint)
        body, image = await image_body(request, file)
        generator = await run_in_threadpool(studio.generator, name, chosen)
        if class_ is not None and (not generator.info.classes or class_ >= generator.info.classes):
            raise StudioError(400, f"class must be from 0 to {(generator.info.classes or 1) - 1} for this run"
                              if generator.info.classes else "this run's model has no classes")
        try:
            return studio.projector.submit(name, chosen, image, body, Path(file).stem[:80] or "image", steps,
                                           class_)
        except OverflowError as err:
            raise StudioError(503, str(err)) from None

    @app.get("/api/runs/{name}/projections")
    def projections(name: str):
        studio.run_dir(name)
        return {"projections": studio.projector.for_run(name) if studio.projector else []}

    @app.get("/api/projections/{projection_id}")
    def projection_state(projection_id: str):
        return projection(projection_id)

    def record_file(work, record_id: str, file: str, allowed: set[str], download_name: str | None) -> FileResponse:
        """One of an Enhance record's files (a projection's or a translation's), only those `allowed`, not cached;
        with a download_name, sent as an attachment of that name."""
        if file not in allowed:
            raise StudioError(404, "no such file")
        path = work.folder(record_id) / file
        if not path.is_file():
            raise StudioError(404, f"{work.what} {record_id} has no {file} yet")
        headers = {"Cache-Control": "no-cache"}
        if download_name:
            headers["Content-Disposition"] = f'attachment; filename="{download_name}"'
        return FileResponse(path, media_type=RECORD_MEDIA_TYPES[path.suffix], headers=headers)

    @app.post("/api/projections/{projection_id}/cancel")
    def cancel_projection(projection_id: str):
        projection(projection_id)
        return studio.projector.cancel(projection_id)

    @app.get("/api/projections/{projection_id}/files/{file}")
    def projection_file(projection_id: str, file: str, download: bool = False):
        found = projection(projection_id)
        return record_file(studio.projector, projection_id, file, PROJECTION_FILES,
                           f'{found["name"]}-{file}' if download else None)

    @app.get("/api/projections/{projection_id}/variations.png")
    def projection_variations(projection_id: str, seed: int = seed_q, n: int = Query(16, ge=1, le=limits.images),
                              strength: float = Query(0.3, ge=0, le=1), columns: int = Query(8, ge=1, le=16),
                              truncation: float = trunc_q, class_: int | None = class_q, scale: int = scale_q,
                              download: bool = False):
        found, generator, latent = latent_of(projection_id)
        images = generate(lambda: generator.variations(seed, n, strength, class_, truncation, latent=latent))
        return png(images.grid(columns=min(columns, n), scale=scale),
                   f"{found['name']}-variations.png" if download else None)

    @app.get("/api/projections/{projection_id}/blend.png")
    def projection_blend(projection_id: str, other: str = Query(..., alias="with", max_length=40),
                         steps: int = Query(5, ge=2, le=16), truncation: float = trunc_q,
                         class_: int | None = class_q, scale: int = scale_q, download: bool = False):
        found, generator, latent = latent_of(projection_id)
        if other.startswith("seed:") and other[5:].isdigit() and int(other[5:]) <= limits.seed:
            partner: Any = other
        elif other.startswith("projection:"):
            partner_found, partner_generator, partner = latent_of(other.removeprefix("projection:"))
            if partner_generator is not generator:
                raise StudioError(400, "blend two projections of the same run and checkpoint")
        else:
            raise StudioError(400, "with must be seed:N or projection:ID")
        ratios = [i / (steps - 1) for i in range(steps)]
        images = generate(lambda: generator.blend(latent, partner, ratios, class_, truncation))
        return png(images.grid(columns=steps, scale=scale), f"{found['name']}-blend.png" if download else None)

    @app.get("/api/projections/{projection_id}/classes.png")
    def projection_classes(projection_id: str, truncation: float = trunc_q, scale: int = scale_q,
                           download: bool = False):
        found, generator, latent = latent_of(projection_id)
        if not generator.info.classes:
            raise StudioError(400, "this run's model has no classes to re-class the image into")
        from ganvas.api import Images

        images = generate(lambda: Images(torch.cat([generator.render(latent, k, truncation).tensor
                                                    for k in range(generator.info.classes)])))
        return png(images.grid(columns=generator.info.classes, scale=scale),
                   f"{found['name']}-classes.png" if download else None)

    # --- enhance: translating your own images (Translator.enhance) -----------------------------------------------
    @app.get("/api/runs/{name}/translator")
    def translator_info(name: str, checkpoint: str = check_q):
        translator = studio.translator(name, checkpoint)
        info = translator.info
        return {"checkpoint": info.path.name, "step": info.step, "task": info.task, "model": info.model,
                "preset": info.preset, "directions": list(info.directions), "size": info.size, "scale": info.scale,
                "checkpoints": runview.checkpoints(studio.run_dir(name))}

    def uploaded_mask(upload_id: str) -> tuple[str, bytes]:
        """Inpainting's mask: an upload set (POST /api/uploads) of one image, checked as every upload is."""
        images = studio.uploads.images(studio.uploads.folder(upload_id))
        if len(images) != 1:
            raise StudioError(400, f"the mask must be one image; upload {upload_id} holds {len(images)}")
        return images[0].suffix.lower(), images[0].read_bytes()

    @app.post("/api/runs/{name}/translations")
    async def translate(request: Request, name: str, file: str = Query("image", alias="name", max_length=255),
                        checkpoint: str = check_q, direction: str = Query("a2b", pattern="^(a2b|b2a)$"),
                        mask: str | None = Query(None, max_length=12)):
        from ganvas.studio.uploads import safe_stem

        run_dir = studio.run_dir(name)
        chosen = studio.checkpoint(run_dir, checkpoint)
        body, image = await image_body(request, file)
        info = (await run_in_threadpool(studio.translator, name, chosen)).info
        if direction not in info.directions:
            raise StudioError(400, f"this {info.task} translator goes one way, a2b; b2a needs a cyclegan run")
        if mask is not None and info.task != "inpaint":
            raise StudioError(400, f"only an inpaint run takes a mask; this run's task is {info.task}")
        width, height = image.size
        if width * height * info.scale ** 2 > limits.image_pixels:
            raise StudioError(400, f"{file} would become {width * info.scale}x{height * info.scale} pixels, over the "
                                   f"limit of {limits.image_pixels:,} pixels an image may have; scale it down first")
        mask_file = await run_in_threadpool(uploaded_mask, mask) if mask is not None else None
        try:
            return studio.translations.submit(name, chosen, image, body, safe_stem(file), info.task,
                                              direction, mask_file)
        except OverflowError as err:
            raise StudioError(503, str(err)) from None

    @app.get("/api/runs/{name}/translations")
    def translations(name: str):
        studio.run_dir(name)
        return {"translations": studio.translations.for_run(name)}

    def translation(translation_id: str) -> dict[str, Any]:
        try:
            return studio.translations.state(translation_id)
        except (KeyError, OSError, ValueError):
            raise StudioError(404, f"no translation {translation_id!r}") from None

    @app.get("/api/translations/{translation_id}")
    def translation_state(translation_id: str):
        return translation(translation_id)

    @app.post("/api/translations/{translation_id}/cancel")
    def cancel_translation(translation_id: str):
        translation(translation_id)
        return studio.translations.cancel(translation_id)

    @app.get("/api/translations/{translation_id}/files/{file}")
    def translation_file(translation_id: str, file: str, download: bool = False):
        found = translation(translation_id)
        direction = f"-{found['direction']}" if found["task"] == "cyclegan" else ""
        return record_file(studio.translations, translation_id, file, TRANSLATION_FILES,
                           f'{found["name"]}-{found["task"] if file == "output.png" else "input"}{direction}.png'
                           if download else None)

    # --- live updates (Server-Sent Events) ------------------------------------------------------------------------
    def open_stream() -> None:
        with studio.streams_lock:
            if studio.streams >= limits.streams:
                raise StudioError(503, "too many live connections to the studio; close some of its tabs")
            studio.streams += 1

    def close_stream() -> None:
        with studio.streams_lock:
            studio.streams -= 1

    def stream(body) -> StreamingResponse:
        return StreamingResponse(body, media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    @app.get("/api/stream")
    async def stream_runs(request: Request):
        """The runs' cards and the queue, sent again whenever they change."""
        open_stream()

        async def body():
            try:
                last = None
                quiet = 0.0
                while not await request.is_disconnected():
                    snapshot = await run_in_threadpool(lambda: {"runs": studio.cards(),
                                                                "queue": studio.jobs.snapshot()})
                    text = json.dumps(snapshot, sort_keys=True)
                    if text != last:
                        last, quiet = text, 0.0
                        yield sse("runs", snapshot)
                    elif quiet > 15:
                        quiet = 0.0
                        yield b": keep-alive\n\n"
                    await asyncio.sleep(1.0)
                    quiet += 1.0
            finally:
                close_stream()
        return stream(body())

    @app.get("/api/runs/{name}/stream")
    async def stream_run(name: str, request: Request):
        """One run as it trains: first its history (curves, log tail, detail), then each new event of events.jsonl,
        each new train.log line, and its detail again when its status changes."""
        run_dir = studio.run_dir(name, must_exist=False)
        if not run_dir.exists() and studio.jobs.job_for(name) is None:
            raise StudioError(404, f"no run {name!r} in the runs folder")
        open_stream()

        def size(path: Path) -> int:
            try:
                return path.stat().st_size
            except OSError:
                return 0

        def read_from(path: Path, offset: int) -> tuple[list[str], int]:
            if size(path) < offset:  # the file was replaced (a run started over): read it from the start
                offset = 0
            try:
                with open(path, "rb") as handle:
                    handle.seek(offset)
                    data = handle.read(4 * 2**20)
            except OSError:
                return [], offset
            end = data.rfind(b"\n") + 1  # complete lines only; the rest is still being written
            return data[:end].decode("utf-8", errors="replace").splitlines(), offset + end

        def history() -> tuple[dict[str, Any], int, int]:
            events_at, log_at = size(run_dir / "events.jsonl"), size(run_dir / "train.log")
            return ({"curves": runview.curves(run_dir) if run_dir.is_dir() else {"stats": [], "quality": []},
                     "log": runview.log_tail(run_dir, 200), "run": run_detail(name)}, events_at, log_at)

        async def body():
            try:
                first, events_at, log_at = await run_in_threadpool(history)
                yield sse("history", first)
                last_status = json.dumps(first["run"], sort_keys=True, default=str)
                quiet = 0.0
                while not await request.is_disconnected():
                    await asyncio.sleep(0.5)
                    quiet += 0.5
                    lines, events_at = read_from(run_dir / "events.jsonl", events_at)
                    for line in lines:
                        try:
                            event = json.loads(line)
                        except json.JSONDecodeError:
                            continue
                        quiet = 0.0
                        yield sse("event", event)
                    lines, log_at = read_from(run_dir / "train.log", log_at)
                    if lines:
                        quiet = 0.0
                        yield sse("log", lines)
                    try:
                        detail = await run_in_threadpool(run_detail, name)
                    except StudioError:  # deleted while watched
                        yield sse("gone", {"run": name})
                        return
                    text = json.dumps(detail, sort_keys=True, default=str)
                    if text != last_status:
                        last_status, quiet = text, 0.0
                        yield sse("run", detail)
                    if quiet >= 15:
                        quiet = 0.0
                        yield b": keep-alive\n\n"
            finally:
                close_stream()
        return stream(body())

    return app
