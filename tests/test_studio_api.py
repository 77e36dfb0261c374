"""The studio's API: every endpoint, each bad input, the jail around --runs and --data-root, tokens and origins,
uploads, the queue (and its file across restarts), training in a process of its own, and the generator cache."""

from __future__ import annotations

import io
import json
import os
import struct
import time
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi", reason="the studio extra is not installed: pip install -e '.[studio,studio-test]'")
pytest.importorskip("httpx2", reason="the studio-test extra is not installed: pip install -e '.[studio-test]'")

from fastapi.testclient import TestClient  # noqa: E402

from ganvas.studio import create_app  # noqa: E402
from ganvas.studio.cache import GeneratorCache  # noqa: E402
from ganvas.studio.jobs import JobQueue  # noqa: E402
from ganvas.studio.server import access_token  # noqa: E402
from ganvas.studio.uploads import Limits  # noqa: E402
from test_studio_support import (fixture_runs, held_after_first_pass, stand_in_digits, translator_run,  # noqa: E402
                                 wait_for)

ORIGIN = {"Origin": "http://127.0.0.1"}
SECRET = "top-secret-outside-the-jail"


def png_bytes(size=(28, 28), colour=128, mode="L") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


def noise_png(side=64) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (side, side), dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares width x height pixels and holds none: a decompression bomb's header."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))


def zip_of(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def make_outside(folder: Path) -> Path:
    """A folder beside the studio's, holding a secret, that no request may reach."""
    folder.mkdir()
    (folder / "secret.txt").write_text(SECRET)
    (folder / "config.json").write_text(json.dumps({"preset": SECRET}))
    (folder / "leak.png").write_bytes(png_bytes())
    return folder


def make_data_root(root: Path, outside: Path) -> Path:
    (root / "squares").mkdir(parents=True)
    for index in range(6):
        (root / "squares" / f"{index}.png").write_bytes(png_bytes(colour=40 * index))
    (root / "squares.zip").write_bytes(zip_of({f"s/{i}.png": png_bytes(colour=i * 30) for i in range(4)}))
    stand_in_digits(root / "idx")
    (root / "leaky").mkdir()
    (root / "leaky" / "fine.png").write_bytes(png_bytes())
    (root / "leaky" / "linked.png").symlink_to(outside / "leak.png")
    (root / "out").symlink_to(outside)
    (root / ".hidden").mkdir()
    return root


def studio_client(base: Path):
    """A studio on copies of the fixture runs, with a data root, and a folder outside both; the queue polls fast."""
    outside = make_outside(base / "outside")
    data_root = make_data_root(base / "data", outside)
    runs = fixture_runs(base / "runs")
    (runs / "escape").symlink_to(outside)  # a run folder that leads out of --runs
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GANVAS_DATA_DIR", str(data_root / "idx"))  # the named dataset, for the training processes
        patch.setenv("OMP_NUM_THREADS", "1")
        app = create_app(runs, [data_root], poll_s=0.1)
        with TestClient(app, base_url="http://127.0.0.1") as test_client:
            test_client.runs = runs
            test_client.studio = app.state.studio
            yield test_client
            app.state.studio.jobs.terminate_all()


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    """One studio for the tests that change nothing (it keeps its generator cache between them)."""
    yield from studio_client(tmp_path_factory.mktemp("studio"))


@pytest.fixture
def fresh(tmp_path):
    """A studio of its own, for a test that changes runs, uploads or the queue."""
    yield from studio_client(tmp_path)


def post(client, url, body=None, **kwargs):
    return client.post(url, json=body if body is not None else {}, headers=ORIGIN, **kwargs)


def assert_refused(response, *statuses):
    assert response.status_code in (statuses or (400, 403, 404)), (response.status_code, response.text[:300])
    assert SECRET not in response.text
    assert "Traceback" not in response.text
    if response.headers.get("content-type", "").startswith("application/json"):
        assert response.json()["error"]


# --- pages, runs and their files ----------------------------------------------------------------------------------

def test_pages_static_files_and_security_headers(client):
    page = client.get("/")
    assert page.status_code == 200 and "ganvas studio" in page.text and "/static/app.js" in page.text
    assert page.headers["x-frame-options"] == "DENY"
    assert "default-src 'self'" in page.headers["content-security-policy"]
    for path in ("/static/app.js", "/static/style.css", "/static/pages/explore.js", "/static/vendor/uPlot.iife.min.js",
                 "/static/vendor/uPlot.min.css", "/static/vendor/uPlot.LICENSE"):
        assert client.get(path).status_code == 200, path
    assert "uPlot" in client.get("/static/vendor/uPlot.iife.min.js").text
    assert client.get("/api/runs").headers["cache-control"] == "no-store"


def test_info_and_presets(client):
    info = client.get("/api/info").json()
    assert info["data_roots"] == [{"index": 0, "name": "data", "path": str(client.studio.data_roots[0])}]
    assert info["max_running"] == 1 and info["token"] is False and info["limits"]["images"] == 100
    presets = client.get("/api/presets").json()
    assert presets["presets"]["mnist"]["defaults"]["model"] == "dcgan-cond"
    assert presets["presets"]["mnist"]["defaults"]["batch_size"] == 64
    assert presets["presets"]["art"]["own_images"] is True
    options = {option["name"]: option for option in presets["options"]}
    assert "dcgan" in options["model"]["choices"] and options["loss"]["choices"]
    assert options["steps"]["type"] == "int" and presets["datasets"] == ["mnist", "fashion-mnist"]


def test_run_cards(client):
    listing = client.get("/api/runs").json()
    cards = {card["name"]: card for card in listing["runs"]}
    assert set(cards) == {"digits", "classic"}  # the symlink that leads out is no run of the studio's
    digits = cards["digits"]
    assert digits["status"] == "finished" and digits["step"] == 40 and digits["target_steps"] == 40
    assert (digits["preset"], digits["model"], digits["dataset"]) == ("mnist", "dcgan-cond", "mnist")
    assert "fid" in digits["quality"] and digits["alarms"] and digits["has_checkpoint"]
    assert client.get(digits["grid"]).headers["content-type"] == "image/png"
    assert listing["queue"] == []


def test_run_detail_curves_log_and_samples(client):
    detail = client.get("/api/runs/digits").json()
    assert detail["samples"] == [20, 40]
    assert [c["name"] for c in detail["checkpoints"]] == ["step-00000020", "step-00000040", "best"]
    assert detail["config"]["model"] == "dcgan-cond" and detail["job"] is None
    curves = client.get("/api/runs/digits/curves").json()
    assert [row["step"] for row in curves["stats"]] == list(range(5, 45, 5))
    assert {"d_loss", "g_loss"} <= set(curves["stats"][0])
    assert [row["step"] for row in curves["quality"]] == [20, 40] and "fid" in curves["quality"][0]
    lines = client.get("/api/runs/digits/log?lines=2").json()["lines"]
    assert len(lines) == 2 and "step 40" in lines[-1]
    grid = client.get("/api/runs/digits/samples/step-00000040.png")
    assert grid.status_code == 200 and Image.open(io.BytesIO(grid.content)).size[0] > 100
    assert client.get("/api/runs/digits/samples/step-00000041.png").status_code == 404
    assert client.get("/api/runs/nope").status_code == 404


@pytest.mark.parametrize("url", ["/api/runs/digits/log?lines=0", "/api/runs/digits/log?lines=100000",
                                 "/api/runs/digits/log?lines=x", "/api/runs/digits/samples/config.json",
                                 "/api/runs/digits/samples/..%2Fconfig.json", "/api/runs/digits/samples/%2e%2e",
                                 "/api/runs/nope/curves", "/api/runs/.studio/curves", "/api/runs/escape/curves",
                                 "/api/runs/escape", "/api/runs/escape/samples/latest.png"])
def test_run_files_bad_requests(client, url):
    assert_refused(client.get(url))


# --- generating ---------------------------------------------------------------------------------------------------

def picture(response) -> Image.Image:
    assert response.status_code == 200, response.text[:300]
    assert response.headers["content-type"] == "image/png"
    return Image.open(io.BytesIO(response.content))


def test_grid_image_and_variations(client):
    grid = client.get("/api/runs/digits/grid.png?n=16&columns=8&seed=5")
    assert picture(grid).size == (8 * 30 + 2, 2 * 30 + 2)  # 28 px tiles, 2 px apart
    assert client.get("/api/runs/digits/grid.png?n=16&columns=8&seed=5").content == grid.content  # deterministic
    assert client.get("/api/runs/digits/grid.png?n=16&columns=8&seed=6").content != grid.content
    truncated = client.get("/api/runs/digits/grid.png?n=16&columns=8&seed=5&truncation=0.5").content
    assert truncated != grid.content
    one_class = client.get("/api/runs/digits/grid.png?n=16&seed=5&class=3").content
    assert one_class != grid.content
    # tile i is seed + i: the grid's third tile is image.png of seed 7 (row 0: class 0)
    tile = np.asarray(picture(grid))[2:30, 2 + 2 * 30:30 + 2 * 30]
    alone = np.asarray(picture(client.get("/api/runs/digits/image.png?seed=7&class=0&scale=1")))
    assert np.abs(tile.astype(int) - alone).max() <= 1  # drawn in a batch of 16 and of 1: float rounding at most
    assert picture(client.get("/api/runs/digits/image.png?seed=7&scale=4")).size == (112, 112)
    download = client.get("/api/runs/digits/grid.png?n=4&download=1&scale=2")
    assert "attachment" in download.headers["content-disposition"]
    assert picture(client.get("/api/runs/digits/variations.png?seed=3&n=8&strength=0.5")).size == (242, 32)
    assert picture(client.get("/api/runs/classic/grid.png?n=9&columns=3")).size == (92, 92)
    assert picture(client.get("/api/runs/digits/grid.png?n=4&checkpoint=step-00000020"))
    assert picture(client.get("/api/runs/digits/grid.png?n=4&checkpoint=best"))
    info = client.get("/api/runs/digits/generator").json()
    assert info["classes"] == 10 and info["image_shape"] == [1, 28, 28] and info["checkpoint"] == "step-00000040"


def test_walks(client):
    gif = client.get("/api/runs/digits/walk.gif?seeds=1,2,3&frames=6&loop=true&ease=smooth&class=2")
    assert gif.status_code == 200 and gif.content[:6] == b"GIF89a"
    assert Image.open(io.BytesIO(gif.content)).n_frames == 6
    pytest.importorskip("imageio_ffmpeg", reason="MP4 needs the video extra")
    mp4 = client.get("/api/runs/digits/walk.mp4?seeds=1,2&frames=4&download=1")
    assert mp4.status_code == 200 and mp4.content[4:8] == b"ftyp"
    assert "walk-1-2.mp4" in mp4.headers["content-disposition"]
    assert not list(client.studio.tmp_dir.iterdir())  # nothing left behind


@pytest.mark.parametrize("query", [
    "grid.png?n=0", "grid.png?n=101", "grid.png?n=x", "grid.png?seed=-1", "grid.png?seed=2147483648",
    "grid.png?seed=2147483640&n=64", "grid.png?truncation=0", "grid.png?truncation=1.5", "grid.png?class=10",
    "grid.png?class=-1", "grid.png?scale=9", "grid.png?columns=0", "grid.png?checkpoint=nope",
    "grid.png?checkpoint=..%2F..%2Foutside", "grid.png?checkpoint=step-00000020%2F..%2F..", "image.png?seed=abc",
    "image.png?scale=0", "variations.png?strength=2", "variations.png?n=500", "walk.gif?seeds=1",
    "walk.gif?seeds=a,b", "walk.gif?seeds=" + ",".join(map(str, range(17))), "walk.gif?seeds=1,2&frames=1",
    "walk.gif?seeds=1,2&frames=241", "walk.gif?seeds=1,2&ease=bounce", "walk.gif?seeds=1,2&fps=0",
    "walk.gif?seeds=1,-2", "walk.gif", "walk.avi?seeds=1,2", "walk.gif?seeds=1,2&truncation=0",
])
def test_generation_bad_parameters(client, query):
    assert_refused(client.get(f"/api/runs/digits/{query}"))


def test_generation_needs_a_checkpoint_and_a_conditional_model(fresh):
    assert "unconditional" in fresh.get("/api/runs/classic/grid.png?class=1").json()["error"]
    empty = fresh.runs / "empty"
    empty.mkdir()
    (empty / "config.json").write_text((fresh.runs / "classic" / "config.json").read_text())
    response = fresh.get("/api/runs/empty/grid.png")
    assert response.status_code == 404 and "no checkpoint yet" in response.json()["error"]


def test_a_damaged_checkpoint_is_a_message(fresh):
    meta = fresh.runs / "classic" / "checkpoints" / "step-00000040" / "meta.json"
    meta.write_text(meta.read_text().replace('"generator"', '"generatorX"', 1))
    response = fresh.get("/api/runs/classic/grid.png?n=4")
    assert_refused(response, 400, 404)


def test_generator_cache_is_bounded(client, tmp_path):
    runs = client.runs
    cache = GeneratorCache(max_bytes=10**12, max_items=2)
    first = cache.get(runs / "digits", "step-00000020")
    assert cache.get(runs / "digits", "step-00000020") is first and cache.loads == 1
    cache.get(runs / "digits", "step-00000040")
    cache.get(runs / "classic", "step-00000040")
    assert len(cache) == 2 and cache.loads == 3  # the least recently used went
    small = GeneratorCache(max_bytes=1)
    small.get(runs / "digits", "step-00000020")
    small.get(runs / "classic", "step-00000020")
    assert len(small) == 1  # over the byte bound: only the newest stays
    assert client.studio.cache.max_bytes == 512 * 2**20


# --- the jail ----------------------------------------------------------------------------------------------------

def test_data_listing(client):
    listing = client.get("/api/data/0").json()
    entries = {entry["name"]: entry for entry in listing["entries"]}
    assert set(entries) == {"squares", "squares.zip", "idx", "leaky"}  # no hidden folder, no link out
    assert entries["squares"] == {"name": "squares", "path": "squares", "kind": "folder", "images": 6}
    assert entries["idx"]["kind"] == "idx" and entries["squares.zip"]["kind"] == "zip"
    inner = client.get("/api/data/0?path=squares").json()
    assert inner["images"] == 6 and inner["entries"] == []
    assert client.get("/api/data").json() == {"roots": [{"index": 0, "name": "data"}]}


@pytest.mark.parametrize("path", ["..", "../outside", "squares/../..", "/etc", "%2Fetc", "%2e%2e", "%2e%2e%2f",
                                  "..%2Foutside", "out", "out/", "./out", "squares/../out", ".hidden", "~",
                                  "squares%00", "a\\..\\..", "nope"])
def test_data_listing_stays_inside(client, path):
    assert_refused(client.get(f"/api/data/0?path={path}"))


@pytest.mark.parametrize("url", ["/api/data/1", "/api/data/-1", "/api/data/x"])
def test_data_root_must_exist(client, url):
    assert_refused(client.get(url), 400, 404)


@pytest.mark.parametrize("path", ["/static/../app.py", "/static/%2e%2e/app.py", "/static/..%2Fapp.py",
                                  "/static/%2e%2e%2f%2e%2e%2fcli.py", "/static//etc/passwd", "/static/vendor/../../app.py",
                                  "/..%2F..%2Fetc/passwd", "/api/runs/..%2F..%2Foutside/curves",
                                  "/api/runs/%2e%2e/curves", "/api/runs/%252e%252e/curves"])
def test_static_and_route_traversal(client, path):
    response = client.get(path)
    assert response.status_code in (400, 404), (path, response.status_code)
    assert "import" not in response.text and SECRET not in response.text


# --- training requests --------------------------------------------------------------------------------------------

def train_body(**changes):
    body = {"name": "fresh-run", "preset": "seed", "data": {"kind": "dataset", "dataset": "mnist", "split": "test"},
            "options": {"steps": 50, "eval_every": 0}}
    body.update(changes)
    return body


@pytest.mark.parametrize("changes, status, words", [
    ({"name": "../escape"}, 400, "not a run name"), ({"name": ""}, 400, "not a run name"),
    ({"name": ".studio"}, 400, "not a run name"), ({"name": "a/b"}, 400, "not a run name"),
    ({"name": "%2e%2e"}, 400, "not a run name"), ({"name": "digits"}, 409, "already a run"),
    ({"name": "escape"}, 400, "not inside"), ({"preset": "nope"}, 400, "unknown preset"),
    ({"preset": 3}, 400, "preset"),
    ({"options": {"bogus": 1}}, 400, "unknown training option"),
    ({"options": {"data": "/etc"}}, 400, "comes from the data choice"),
    ({"options": {"data_dir": "/tmp"}}, 400, "comes from the data choice"),
    ({"options": {"steps": 0}}, 400, "steps"), ({"options": {"steps": 10**9}}, 400, "steps"),
    ({"options": {"minutes": -1}}, 400, "minutes"), ({"options": {"batch_size": 10**6}}, 400, "batch_size"),
    ({"options": {"batch_size": "x"}}, 400, "batch_size= must be a whole number"),
    ({"options": {"augment": "x" * 300}}, 400, "too long"), ({"options": []}, 400, "options"),
    ({"options": {"loss": "wgan"}}, 400, "Lipschitz"),
    ({"data": {"kind": "nope"}}, 400, "data.kind"), ({"data": "mnist"}, 400, "data must be an object"),
    ({"data": {"kind": "dataset", "dataset": "cifar"}}, 400, "dataset= must be one of"),
    ({"data": {"kind": "folder", "root": 3, "path": "squares"}}, 404, "no data root"),
    ({"data": {"kind": "folder", "root": "0", "path": "squares"}}, 400, "index"),
    ({"data": {"kind": "folder", "root": 0, "path": "../outside"}}, 400, "outside"),
    ({"data": {"kind": "folder", "root": 0, "path": "/etc"}}, 400, "absolute"),
    ({"data": {"kind": "folder", "root": 0, "path": "out"}}, 400, "outside"),
    ({"data": {"kind": "folder", "root": 0, "path": "leaky"}}, 400, "links to files outside"),
    ({"data": {"kind": "folder", "root": 0, "path": "squares/0.png"}}, 400, "neither a folder nor a zip"),
    ({"data": {"kind": "folder", "root": 0, "path": "squares"}}, 400, "needs size="),
    ({"data": {"kind": "upload", "upload": "../../x"}}, 400, "not an upload id"),
    ({"data": {"kind": "upload", "upload": "0123456789ab"}}, 400, "no upload"),
])
def test_train_bad_requests(client, changes, status, words):
    response = post(client, "/api/train", train_body(**changes))
    assert_refused(response, status)
    assert words in response.json()["error"]
    assert client.get("/api/queue").json()["queue"] == []


def test_train_body_must_be_small_json(client):
    assert_refused(client.post("/api/train", content=b"not json", headers=ORIGIN), 400)
    assert_refused(client.post("/api/train", content=b"[1, 2]", headers=ORIGIN), 400)
    huge = json.dumps(train_body(padding="x" * (2 * 2**20))).encode()
    assert_refused(client.post("/api/train", content=huge, headers=ORIGIN), 413)


def test_state_changes_need_post_and_the_same_origin(client):
    for url in ("/api/train", "/api/runs/digits/stop", "/api/runs/digits/resume", "/api/runs/digits/delete",
                "/api/uploads"):
        assert_refused(client.get(url), 405)
        assert_refused(client.post(url, json={}), 403)  # no Origin: a form on another site, or a script
        assert_refused(client.post(url, json={}, headers={"Origin": "http://evil.example"}), 403)
        assert_refused(client.post(url, json={}, headers={"Origin": "null"}), 403)
    assert (client.runs / "digits").is_dir()


def test_token_is_checked_on_every_request(tmp_path):
    runs = fixture_runs(tmp_path / "runs", ["classic"])
    app = create_app(runs, token="s3cret-token", port=9)
    with TestClient(app, base_url="http://127.0.0.1", follow_redirects=False) as client:
        for url in ("/", "/api/runs", "/static/app.js", "/api/runs/classic/grid.png?n=1"):
            assert_refused(client.get(url), 403)
        assert_refused(client.get("/api/runs?token=wrong"), 403)
        assert client.get("/api/runs?token=s3cret-token").status_code == 200
        assert client.get("/api/runs", headers={"X-Ganvas-Token": "s3cret-token"}).status_code == 200
        first = client.get("/?token=s3cret-token")
        assert first.status_code == 303 and first.headers["location"] == "/"
        assert "ganvas_studio_9=s3cret-token" in first.headers["set-cookie"]
        assert "httponly" in first.headers["set-cookie"].lower()
        assert "samesite=strict" in first.headers["set-cookie"].lower()
        client.cookies.set("ganvas_studio_9", "s3cret-token")
        assert client.get("/api/runs").status_code == 200
        # a cookie alone does not change anything: that needs the page's own origin, or the token itself
        assert_refused(client.post("/api/runs/classic/delete"), 403)
        assert client.post("/api/runs/nope/delete", headers={"X-Ganvas-Token": "s3cret-token"}).status_code == 404
        assert client.get("/api/runs", headers={"Host": "studio.example:80"}).status_code == 200  # any host, token


def test_without_a_token_only_loopback_host_names_are_answered(client):
    assert client.get("/api/runs", headers={"Host": "localhost:8765"}).status_code == 200
    assert client.get("/api/runs", headers={"Host": "[::1]:8765"}).status_code == 200
    for host in ("evil.example", "evil.example:8765", "10.0.0.1:8765", "127.0.0.1.evil.example"):
        assert_refused(client.get("/api/runs", headers={"Host": host}), 403)  # DNS rebinding


def test_a_token_for_every_host_but_loopback():
    assert access_token("127.0.0.1") is None and access_token("localhost") is None and access_token("::1") is None
    assert len(access_token("0.0.0.0")) >= 24 and access_token("0.0.0.0") != access_token("0.0.0.0")
    assert access_token("192.168.1.5") and access_token("127.0.0.1", "given") == "given"


# --- uploads ------------------------------------------------------------------------------------------------------

def upload(client, data: bytes, name: str, upload_id: str | None = None, headers=ORIGIN):
    params = {"name": name} | ({"upload": upload_id} if upload_id else {})
    return client.post("/api/uploads", params=params, content=data, headers=headers)


def test_uploads_keep_checked_images(fresh):
    first = upload(fresh, png_bytes(colour=10), "one.png")
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["images"] == 1 and body["added"] == 1
    folder = fresh.studio.uploads.root / body["upload"]
    more = upload(fresh, zip_of({"set/a.png": png_bytes(colour=20), "set/b.jpg": png_bytes(colour=30),
                                  "set/notes.txt": b"hello", "set/broken.png": b"\x89PNG\r\n\x1a\nbroken",
                                  "__MACOSX/set/._a.png": b"junk", "../../../../escape.png": png_bytes()}),
                  "more.zip", body["upload"]).json()
    assert more["images"] == 3 and more["added"] == 2  # "../" members, like hidden ones, are never read
    assert [item["name"] for item in more["skipped"]] == ["set/broken.png"]
    assert more["skipped"][0]["reason"]
    names = sorted(path.name for path in folder.iterdir())
    assert names == ["00000-one.png", "00001-a.png", "00002-b.png"]  # b.jpg holds a PNG: named for what it is
    assert not list(fresh.runs.parent.glob("escape*")) and not (fresh.runs / "escape.png").exists()
    traversal = upload(fresh, png_bytes(), "../../../evil.png").json()
    assert list((fresh.studio.uploads.root / traversal["upload"]).iterdir())[0].name == "00000-evil.png"


@pytest.mark.parametrize("data, name, words", [
    (b"just some text", "notes.txt", "not an image"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "corrupt.png", "damaged image"),
    (noise_png()[:600], "truncated.png", "damaged image"),
    (png_header_only(50_000, 50_000), "bomb.png", "over the limit"),
    (b"PK\x03\x04 not really a zip", "broken.zip", "not an image"),
    (zip_of({"a.txt": b"x"}), "texts.zip", "holds no images"),
    (zip_of({"a.png": b"not a png", "b.png": b"nor this"}), "bad.zip", "none of the 2 files"),
    (b"", "empty.png", "empty"),
])
def test_bad_uploads_get_a_message(client, data, name, words):
    response = upload(client, data, name)
    assert_refused(response, 400)
    assert words in response.json()["error"]
    assert not list(client.studio.tmp_dir.iterdir())


def test_upload_limits(tmp_path):
    runs = tmp_path / "runs"
    limits = Limits(upload_bytes=100_000, upload_set_bytes=300_000, image_pixels=200 * 200, zip_members=3)
    with TestClient(create_app(runs, limits=limits), base_url="http://127.0.0.1") as client:
        assert upload(client, png_bytes((200, 200)), "fits.png").status_code == 200
        assert "over the limit" in upload(client, png_bytes((201, 200)), "big.png").json()["error"]
        response = upload(client, noise_png(400), "heavy.png")
        assert response.status_code == 413 and "limit" in response.json()["error"]

        def chunks():
            for _ in range(20):
                yield b"x" * 10_000
        streamed = client.post("/api/uploads?name=s.png", content=chunks(), headers=ORIGIN)  # no Content-Length
        assert streamed.status_code == 413
        bomb = zip_of({"zeros.png": b"\x00" * 400_000})  # deflates to a few hundred bytes
        assert len(bomb) < 100_000
        assert "unpacks to more than" in upload(client, bomb, "bomb.zip").json()["error"]
        assert project(client, noise_png(400), run="r").status_code == 413  # a projection's image: the same cap
        assert translate(client, noise_png(400), run="r").status_code == 413  # and a translation's
        many = zip_of({f"{i}.png": png_bytes((4, 4)) for i in range(4)})
        assert "over the limit of 3" in upload(client, many, "many.zip").json()["error"]
        assert not list((runs / ".studio" / "tmp").iterdir())


def test_uploads_train_from_a_folder_inside_the_studio(fresh):
    fresh.studio.jobs.max_running = 0  # queue it, start nothing
    upload_id = upload(fresh, zip_of({f"{i}.png": png_bytes(colour=i * 20) for i in range(8)}), "set.zip").json()
    response = post(fresh, "/api/train", train_body(name="uploaded", preset="art",
                                                     data={"kind": "upload", "upload": upload_id["upload"]},
                                                     options={"size": 16, "steps": 2}))
    assert response.status_code == 200, response.text
    job = response.json()["job"]
    assert job["options"]["data"].startswith(str(fresh.studio.uploads.root))
    post(fresh, f"/api/queue/{job['id']}/cancel")


def test_presets_include_the_translation_tasks(client):
    presets = client.get("/api/presets").json()["presets"]
    assert presets["mnist"]["task"] == "generate" and not presets["mnist"]["two_folders"]
    assert presets["upscale"]["task"] == "upscale" and presets["upscale"]["size"] == 64
    assert presets["upscale"]["own_images"] and presets["upscale"]["defaults"]["model"] == "unet"
    assert presets["cyclegan"]["two_folders"] and presets["paired"]["two_folders"]
    assert not presets["inpaint"]["two_folders"]


SQUARES = {"kind": "folder", "root": 0, "path": "squares"}


@pytest.mark.parametrize("changes, status, words", [
    ({"preset": "upscale"}, 400, "learns from your own images"),
    ({"preset": "cyclegan", "data": SQUARES}, 400, "translates between two folders: give the second with data_b="),
    ({"preset": "upscale", "data": SQUARES, "data_b": SQUARES}, 400, "data_b= is the second folder of"),
    ({"preset": "paired", "data": SQUARES, "data_b": {"kind": "dataset"}}, 400, "data_b must be a folder"),
    ({"preset": "paired", "data": SQUARES, "data_b": {"kind": "folder", "root": 0, "path": "idx"}}, 400,
     "data_b must be a folder"),
    ({"preset": "paired", "data": SQUARES, "data_b": {"kind": "folder", "root": 0, "path": "../outside"}}, 400,
     "outside"),
    ({"preset": "paired", "data": SQUARES, "data_b": "b"}, 400, "data must be an object"),
    ({"preset": "paired", "data": SQUARES, "options": {"data_b": "/etc"}}, 400, "comes from the data choice"),
    # Refused by the kind's own checks, before a job starts (they once failed the job instead).
    ({"preset": "upscale", "data": SQUARES, "options": {"size": 24}}, 400, "multiple of 16"),
    ({"preset": "upscale", "data": SQUARES, "options": {"augment": "color"}}, 400, "takes only 'translation' and"),
])
def test_train_translation_bad_requests(client, changes, status, words):
    body = train_body(**changes)
    if "data" in changes:  # a folder: trained at a size
        body["options"] = {"size": 16, **body["options"]}
    response = post(client, "/api/train", body)
    assert_refused(response, status)
    assert words in response.json()["error"], response.json()["error"]


def test_train_a_translator_from_the_page_then_enhance_with_it(fresh):
    options = {"size": 16, "width": 8, "steps": 2, "log_every": 1, "sample_every": 2, "checkpoint_every": 2,
               "eval_every": 0}
    started = post(fresh, "/api/train", train_body(name="x4", preset="upscale", data=SQUARES, options=options))
    assert started.status_code == 200, started.text
    done = wait_for(lambda: (d := fresh.get("/api/runs/x4").json())["job"]["state"] in ("done", "failed") and d, 120,
                    what="the translator's training")
    assert done["status"] == "finished" and done["task"] == "upscale" and done["step"] == 2, done
    state = translated(fresh, translate(fresh, rgba_png(20, 16), run="x4").json()["id"])
    assert state["state"] == "done" and state["output_size"] == [80, 64], state
    second = upload(fresh, zip_of({f"{i}.png": png_bytes(colour=200 - i * 20) for i in range(6)}), "b.zip").json()
    queued = post(fresh, "/api/train", train_body(name="both-ways", preset="cyclegan", data=SQUARES,
                                                  data_b={"kind": "upload", "upload": second["upload"]},
                                                  options=options)).json()["job"]
    assert queued["options"]["data_b"] == str(fresh.studio.uploads.root / second["upload"])
    assert queued["options"]["data"].endswith("squares") and queued["options"]["preset"] == "cyclegan"
    post(fresh, f"/api/queue/{queued['id']}/cancel")


# --- the queue and training in a process of its own ---------------------------------------------------------------

def status_of(client, name):
    return client.get(f"/api/runs/{name}").json()["status"]


def test_train_watch_stop_resume_and_delete(fresh):
    started = post(fresh, "/api/train", train_body(name="live", options={
        "steps": 100_000, "log_every": 5, "sample_every": 20, "checkpoint_every": 10_000, "eval_every": 0,
        "batch_size": 16}))
    assert started.status_code == 200, started.text
    job = started.json()["job"]
    assert job["state"] == "queued" and job["kind"] == "new"
    assert post(fresh, "/api/train", train_body(name="live")).status_code == 409
    second = post(fresh, "/api/train", train_body(name="waiting")).json()["job"]
    queue = {item["run"]: item for item in fresh.get("/api/queue").json()["queue"]}
    assert queue["waiting"]["state"] == "queued"  # one training at a time
    wait_for(lambda: status_of(fresh, "live") == "training", 60, what="the worker to start training")
    assert fresh.get("/api/runs/waiting").json()["status"] == "queued"
    wait_for(lambda: len(fresh.get("/api/runs/live/curves").json()["stats"]) >= 2, 30, what="statistics")
    wait_for(lambda: fresh.get("/api/runs/live").json()["samples"], 30, what="a sample grid")
    assert_refused(post(fresh, "/api/runs/live/delete"), 409)
    assert_refused(post(fresh, "/api/runs/live/resume"), 409)
    cancelled = post(fresh, f"/api/queue/{second['id']}/cancel").json()["job"]
    assert cancelled["state"] == "cancelled"
    assert post(fresh, "/api/runs/live/stop").json() == {"run": "live", "stopping": True}
    wait_for(lambda: status_of(fresh, "live") == "stopped", 60, what="the run to stop")
    detail = wait_for(lambda: (d := fresh.get("/api/runs/live").json())["job"]["state"] == "done" and d, 30,
                      what="the job to end")
    assert detail["reason"] == "stop_request" and detail["checkpoints"], detail
    stopped_at = detail["step"]
    assert_refused(post(fresh, "/api/runs/live/stop"), 409)
    assert_refused(post(fresh, "/api/runs/live/resume", {"steps": 0}), 400)
    resumed = post(fresh, "/api/runs/live/resume", {"steps": stopped_at + 10})
    assert resumed.status_code == 200, resumed.text
    assert resumed.json()["job"]["kind"] == "resume"
    done = wait_for(lambda: (d := fresh.get("/api/runs/live").json())["job"]["state"] == "done" and d, 60,
                    what="the resumed run to finish")
    assert done["status"] == "finished" and done["step"] == stopped_at + 10
    assert post(fresh, "/api/runs/live/delete").json() == {"run": "live", "deleted": True}
    assert not (fresh.runs / "live").exists()
    assert_refused(post(fresh, "/api/runs/escape/delete"), 400)
    assert (fresh.runs.parent / "outside" / "secret.txt").exists()


def test_a_failing_job_says_why(fresh, monkeypatch):
    monkeypatch.setenv("GANVAS_DATA_DIR", str(fresh.runs.parent / "missing"))
    post(fresh, "/api/train", train_body(name="doomed"))
    card = wait_for(lambda: next((c for c in fresh.get("/api/runs").json()["runs"]
                                  if c["name"] == "doomed" and c["status"] == "failed"), None), 60,
                    what="the job to fail")
    assert card["job"]["error"] and "Traceback" not in card["job"]["error"]
    assert post(fresh, f"/api/queue/{card['job']['id']}/dismiss").status_code == 200
    assert fresh.get("/api/runs/doomed").status_code == 404


def test_stop_and_cancel_bad_requests(fresh):
    assert_refused(post(fresh, "/api/runs/digits/stop"), 409)
    assert_refused(post(fresh, "/api/runs/nope/stop"), 404)
    assert_refused(post(fresh, "/api/runs/..%2Fx/stop"), 400, 404)
    assert_refused(post(fresh, "/api/queue/nope/cancel"), 409)
    assert_refused(post(fresh, "/api/runs/digits/resume", {"steps": "many"}), 400)
    assert_refused(post(fresh, "/api/runs/digits/resume", {"steps": 30}), 400)  # below the run's step
    empty = fresh.runs / "empty"
    empty.mkdir()
    (empty / "config.json").write_text((fresh.runs / "classic" / "config.json").read_text())
    assert "no checkpoint" in post(fresh, "/api/runs/empty/resume").json()["error"]


def test_queue_file_survives_a_restart(tmp_path):
    from ganvas.runfolder import RunLock

    runs, state = tmp_path / "runs", tmp_path / "runs" / ".studio"
    (runs / "busy").mkdir(parents=True)
    (runs / "busy" / "config.json").write_text("{}")
    first = JobQueue(runs, state, max_running=1)
    waiting = first.submit("later", "new", {"preset": "seed"})
    gone = first.submit("gone", "new", {"preset": "seed"})
    adopted = first.submit("busy", "resume", {})
    gone.state, gone.pid = "training", 2**22 + 12345  # its process ended with the old studio
    adopted.state = "training"
    first._save()
    lock = RunLock(runs / "busy").acquire()  # still being trained, by "another process"
    try:
        second = JobQueue(runs, state, max_running=1)
        assert [job.state for job in second.jobs] == ["queued", "training", "training"]
        second.tick()
        states = {job.run: job.state for job in second.jobs}
        assert states == {"later": "queued", "gone": "done", "busy": "training"}  # the busy run holds the slot
    finally:
        lock.release()
    second.python = "/nonexistent/python"  # what would start next fails to start, and says so
    second.tick()
    states = {job.run: job for job in second.jobs}
    assert states["busy"].state == "done"
    assert states["later"].state == "failed" and "could not start" in states["later"].error
    assert json.loads((state / "queue.json").read_text())["jobs"][0]["run"] == "later"


def test_streams_are_bounded(fresh):
    fresh.studio.streams = fresh.studio.limits.streams
    assert_refused(fresh.get("/api/stream"), 503)
    assert_refused(fresh.get("/api/runs/digits/stream"), 503)
    fresh.studio.streams = 0
    assert_refused(fresh.get("/api/runs/nope/stream"), 404)


def test_internal_errors_are_a_message(client, monkeypatch):
    from ganvas.studio import runs as runview

    def broken(*args):
        raise RuntimeError("a bug with a secret path /root/x")
    monkeypatch.setattr(runview, "curves", broken)
    quiet = TestClient(client.app, base_url="http://127.0.0.1", raise_server_exceptions=False)
    response = quiet.get("/api/runs/digits/curves")
    assert response.status_code == 500
    assert response.json()["error"] == ("the studio hit an internal error (RuntimeError); its terminal has the "
                                        "details")


# --- enhance: projection ------------------------------------------------------------------------------------------

def project(client, data: bytes, run="digits", **params):
    return client.post(f"/api/runs/{run}/projections", params={"name": "mine.png", "steps": 4, **params},
                       content=data, headers=ORIGIN)


def finished(client, projection_id: str) -> dict:
    return wait_for(lambda: (s := client.get(f"/api/projections/{projection_id}").json())["state"] in ("done", "failed")
                    and s, 60, what="the projection")


def test_enhance_projects_varies_blends_and_reclasses(fresh):
    assert fresh.get("/api/info").json()["enhance"] is True
    target = fresh.get("/api/runs/digits/image.png?seed=5&class=3&scale=1").content
    first = project(fresh, target)
    assert first.status_code == 200, first.text
    assert first.json()["state"] == "queued" and first.json()["total"] == 4
    state = finished(fresh, first.json()["id"])
    assert state["state"] == "done", state
    assert state["done"] == 4 and "PSNR" in state["summary"] and state["found_class"] in range(10)
    pid = state["id"]
    for file, kind in [("target.png", "image/png"), ("projection.png", "image/png"),
                       ("projection-compare.png", "image/png"), ("projection.gif", "image/gif"),
                       ("projection.json", "application/json")]:
        response = fresh.get(f"/api/projections/{pid}/files/{file}")
        assert response.status_code == 200 and response.headers["content-type"].startswith(kind), file
    assert "mine-projection.json" in fresh.get(f"/api/projections/{pid}/files/projection.json?download=1"
                                               ).headers["content-disposition"]
    assert picture(fresh.get(f"/api/projections/{pid}/variations.png?n=8&strength=0.4")).size == (242, 32)
    assert picture(fresh.get(f"/api/projections/{pid}/blend.png?with=seed:42&steps=5")).size == (152, 32)
    second = finished(fresh, project(fresh, target, **{"class": 7}).json()["id"])
    assert second["found_class"] == 7  # a class given is kept
    assert picture(fresh.get(f"/api/projections/{pid}/blend.png?with=projection:{second['id']}"))
    assert picture(fresh.get(f"/api/projections/{pid}/classes.png")).size == (10 * 30 + 2, 32)
    listed = fresh.get("/api/runs/digits/projections").json()["projections"]
    assert [item["id"] for item in listed] == [second["id"], pid]
    assert fresh.get("/api/runs/classic/projections").json() == {"projections": []}


@pytest.mark.parametrize("data, params, status, words", [
    (b"hello", {}, 400, "not an image"), (b"\x89PNG\r\n\x1a\n" + b"\x00" * 30, {}, 400, "damaged image"),
    (png_header_only(40_000, 40_000), {}, 400, "over the limit"), (b"", {}, 400, "empty"),
    (png_bytes(), {"steps": 0}, 400, "steps"), (png_bytes(), {"steps": 1001}, 400, "steps"),
    (png_bytes(), {"class": 10}, 400, "class must be from 0 to 9"),
    (png_bytes(), {"checkpoint": "nope"}, 404, "no checkpoint"),
])
def test_enhance_bad_uploads(client, data, params, status, words):
    response = project(client, data, **params)
    assert_refused(response, status)
    assert words in response.json()["error"]


def test_enhance_bad_requests(client):
    assert_refused(project(client, png_bytes(), run="nope"), 404)
    assert_refused(project(client, png_bytes(), run="escape"), 400)
    assert_refused(project(client, png_bytes(), run="classic", **{"class": 1}), 400)
    assert_refused(client.post("/api/runs/digits/projections", content=png_bytes()), 403)  # no origin
    for url in ["/api/projections/nope", "/api/projections/0123456789ab", "/api/projections/..%2F..%2Fx",
                "/api/projections/0123456789ab/files/projection.png", "/api/projections/0123456789ab/classes.png"]:
        assert_refused(client.get(url), 400, 404)
    target = client.get("/api/runs/digits/image.png?seed=1&scale=1").content
    pid = finished(client, project(client, target).json()["id"])["id"]
    for url in [f"files/state.json", f"files/original.png", "files/..%2Fstate.json", "files/%2e%2e",
                "blend.png?with=bogus", "blend.png?with=seed:x", "blend.png?with=projection:nope",
                "blend.png?with=seed:1&steps=1", "blend.png?with=seed:1&steps=17", "variations.png?strength=2",
                "variations.png?n=0", "classes.png?scale=9"]:
        assert_refused(client.get(f"/api/projections/{pid}/{url}"), 400, 404)


def test_enhance_needs_a_conditional_model_to_reclass(client):
    target = client.get("/api/runs/classic/image.png?seed=1&scale=1").content
    pid = finished(client, project(client, target, run="classic").json()["id"])["id"]
    assert "no classes" in client.get(f"/api/projections/{pid}/classes.png").json()["error"]


@pytest.mark.parametrize("kind", ["Projector", "Translations"])
def test_an_unfinished_projection_or_translation_is_failed_on_restart(tmp_path, kind):
    import threading

    from ganvas.studio import enhance

    folder = tmp_path / "records" / "0123456789ab"
    folder.mkdir(parents=True)
    (folder / "state.json").write_text(json.dumps({"id": "0123456789ab", "run": "r", "state": "running"}))
    records = getattr(enhance, kind)(tmp_path / "records", lambda run, checkpoint: None, threading.Semaphore())
    state = records.state("0123456789ab")
    assert state["state"] == "failed" and "drop the image again" in state["error"] and records.what in state["error"]


# --- enhance: translation -----------------------------------------------------------------------------------------

def test_a_running_projection_can_be_cancelled_and_keeps_no_result(fresh):
    target = fresh.get("/api/runs/digits/image.png?seed=5&class=3&scale=1").content
    generator = fresh.studio.generator("digits", "latest")
    with held_after_first_pass(generator.network) as (gate, passes):
        pid = project(fresh, target).json()["id"]
        wait_for(lambda: passes, 30, what="the projection to start")
        asked = post(fresh, f"/api/projections/{pid}/cancel").json()
        assert asked["state"] == "running" and asked["cancelling"] is True and asked["done"] == 0
        gate.set()
        state = finished_or_cancelled(fresh, f"/api/projections/{pid}")
    assert state["state"] == "cancelled" and state["done"] == 1 and state["error"] is None, state  # its first step
    assert not [path.name for path in fresh.studio.projector.folder(pid).glob("projection*")]
    assert_refused(fresh.get(f"/api/projections/{pid}/files/projection.png"), 404)
    assert "not done" in fresh.get(f"/api/projections/{pid}/variations.png").json()["error"]
    assert finished(fresh, project(fresh, target).json()["id"])["state"] == "done"  # the next one runs


def finished_or_cancelled(client, url: str) -> dict:
    return wait_for(lambda: (s := client.get(url).json())["state"] in ("done", "failed", "cancelled") and s, 60,
                    what=url)


@pytest.fixture(scope="module")
def translating(tmp_path_factory):
    """A studio with the fixture runs and three tiny translator runs: upscale, inpaint and cyclegan."""
    for client in studio_client(tmp_path_factory.mktemp("translating")):
        for task in ("upscale", "inpaint", "cyclegan"):
            translator_run(client.runs, task)
        yield client


def rgba_png(width: int, height: int, seed: int = 0, hole: bool = False) -> bytes:
    """Random colours, with a fully transparent rectangle in the middle when `hole`."""
    pixels = np.random.default_rng(seed).integers(0, 255, (height, width, 4), dtype=np.uint8)
    pixels[..., 3] = 255
    if hole:
        pixels[height // 3:height // 2, width // 3:width // 2, 3] = 0
    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGBA").save(buffer, format="PNG")
    return buffer.getvalue()


def translate(client, data: bytes, run="upscale", **params):
    return client.post(f"/api/runs/{run}/translations", params={"name": "mine.png", **params}, content=data,
                       headers=ORIGIN)


def translated(client, translation_id: str) -> dict:
    return wait_for(lambda: (s := client.get(f"/api/translations/{translation_id}").json())["state"]
                    in ("done", "failed") and s, 60, what="the translation")


def through_the_api(client, run: str, data: bytes, tmp_path, mask: bytes | None = None, **options) -> np.ndarray:
    """What ganvas.load_translator(run).enhance gives for the same image (and mask), as uint8 pixels."""
    import ganvas

    source, mask_file = tmp_path / "source.png", tmp_path / "mask.png"
    source.write_bytes(data)
    if mask is not None:
        mask_file.write_bytes(mask)
    translator = ganvas.load_translator(client.runs / run)
    return translator.enhance(source, mask=mask_file if mask is not None else None, **options).pixels[0]


def test_enhance_translates_with_a_translator_run(translating, tmp_path):
    client = translating
    assert client.get("/api/runs/upscale").json()["task"] == "upscale"
    assert client.get("/api/runs/digits").json()["task"] == "generate"
    info = client.get("/api/runs/upscale/translator").json()
    assert info["task"] == "upscale" and info["directions"] == ["a2b"] and info["scale"] == 4 and info["size"] == 16
    assert info["checkpoint"] == "step-00000004" and [c["name"] for c in info["checkpoints"]][-1] == "best"
    image = rgba_png(20, 24)
    queued = translate(client, image)
    assert queued.status_code == 200, queued.text
    assert queued.json()["state"] == "queued" and queued.json()["input_size"] == [20, 24]
    state = translated(client, queued.json()["id"])
    assert state["state"] == "done", state
    assert state["output_size"] == [80, 96] and state["step"] == 4 and state["direction"] == "a2b"
    tid = state["id"]
    assert picture(client.get(f"/api/translations/{tid}/files/input.png")).size == (20, 24)
    output = picture(client.get(f"/api/translations/{tid}/files/output.png"))
    assert np.array_equal(np.asarray(output), through_the_api(client, "upscale", image, tmp_path))
    download = client.get(f"/api/translations/{tid}/files/output.png?download=1")
    assert download.headers["content-disposition"] == 'attachment; filename="mine-upscale.png"'
    best = translated(client, translate(client, image, checkpoint="best").json()["id"])
    assert best["state"] == "done" and best["checkpoint"] == "best"
    listed = client.get("/api/runs/upscale/translations").json()["translations"]
    assert [item["id"] for item in listed] == [best["id"], tid]
    assert client.get("/api/runs/digits/translations").json() == {"translations": []}


def test_a_cyclegan_translates_large_images_both_ways_in_tiles(translating, tmp_path):
    image = rgba_png(300, 270, seed=1)  # over the 256-pixel tile: tiled
    outputs = {}
    for direction in ("a2b", "b2a"):
        state = translated(translating, translate(translating, image, run="cyclegan", direction=direction).json()["id"])
        assert state["state"] == "done" and state["output_size"] == [300, 270], state
        outputs[direction] = np.asarray(picture(translating.get(f"/api/translations/{state['id']}/files/output.png")))
        assert np.array_equal(outputs[direction],
                              through_the_api(translating, "cyclegan", image, tmp_path, direction=direction))
        assert f"mine-cyclegan-{direction}.png" in translating.get(
            f"/api/translations/{state['id']}/files/output.png?download=1").headers["content-disposition"]
    assert not np.array_equal(outputs["a2b"], outputs["b2a"])


def test_inpainting_fills_a_masks_light_pixels_or_else_the_transparent_ones(translating, tmp_path):
    image = rgba_png(32, 32, seed=2, hole=True)
    buffer = io.BytesIO()
    mask = np.zeros((32, 32), dtype=np.uint8)
    mask[4:12, 20:28] = 255
    Image.fromarray(mask, "L").save(buffer, format="PNG")
    mask_upload = upload(translating, buffer.getvalue(), "mask.png").json()["upload"]
    with_mask = translated(translating, translate(translating, image, run="inpaint", mask=mask_upload).json()["id"])
    without = translated(translating, translate(translating, image, run="inpaint").json()["id"])
    results = {}
    for state, given in ((with_mask, buffer.getvalue()), (without, None)):
        assert state["state"] == "done", state
        results[given is None] = np.asarray(picture(translating.get(f"/api/translations/{state['id']}/files/output.png")))
        assert np.array_equal(results[given is None], through_the_api(translating, "inpaint", image, tmp_path, given))
    assert not np.array_equal(results[True], results[False])


def test_a_translation_that_cannot_run_says_why(translating):
    state = translated(translating, translate(translating, rgba_png(3, 3), name="tiny.png").json()["id"])
    assert state["state"] == "failed"
    assert state["error"].startswith("tiny: ") and "smaller than this model's smallest input" in state["error"]
    assert str(translating.runs) not in state["error"]  # the upload's name, not the studio's own path


@pytest.mark.parametrize("data, params, status, words", [
    (b"hello", {}, 400, "not an image"), (b"\x89PNG\r\n\x1a\n" + b"\x00" * 30, {}, 400, "damaged image"),
    (png_header_only(40_000, 40_000), {}, 400, "over the limit"), (b"", {}, 400, "empty"),
    (png_bytes(), {"direction": "b2a"}, 400, "goes one way"), (png_bytes(), {"direction": "up"}, 400, "direction"),
    (png_bytes(), {"checkpoint": "nope"}, 404, "no checkpoint"),
    (png_bytes(), {"mask": "0123456789ab"}, 400, "only an inpaint run takes a mask"),
    (png_bytes(), {"run": "inpaint", "mask": "0123456789ab"}, 400, "no upload"),
    (png_bytes(), {"run": "inpaint", "mask": "../../x"}, 400, "not an upload id"),
    (png_bytes((1100, 1000)), {}, 400, "would become 4400x4000 pixels, over the limit"),
    (png_bytes(), {"run": "digits"}, 400, "not an image translator"),
    (png_bytes(), {"run": "nope"}, 404, "no run"),
])
def test_enhance_translation_bad_requests(translating, data, params, status, words):
    response = translate(translating, data, **params)
    assert_refused(response, status)
    assert words in response.json()["error"], response.json()["error"]


def test_translation_requests_stay_inside(translating):
    two = upload(translating, zip_of({"a.png": png_bytes(), "b.png": png_bytes(colour=9)}), "two.zip").json()
    assert "the mask must be one image" in translate(translating, png_bytes(), run="inpaint",
                                                     mask=two["upload"]).json()["error"]
    assert_refused(translate(translating, png_bytes(), run="escape"), 400)
    assert_refused(translating.post("/api/runs/upscale/translations", content=png_bytes()), 403)  # no origin
    assert "ganvas enhance" in project(translating, png_bytes(), run="upscale").json()["error"]
    tid = translated(translating, translate(translating, rgba_png(16, 16)).json()["id"])["id"]
    for url in ["/api/translations/nope", "/api/translations/0123456789ab", "/api/translations/..%2F..%2Fx",
                "/api/translations/0123456789ab/files/output.png", f"/api/translations/{tid}/files/state.json",
                f"/api/translations/{tid}/files/original.png", f"/api/translations/{tid}/files/..%2Fstate.json",
                f"/api/translations/{tid}/files/%2e%2e", "/api/runs/nope/translator", "/api/runs/escape/translator"]:
        assert_refused(translating.get(url), 400, 404)
    assert "not an image translator" in translating.get("/api/runs/digits/translator").json()["error"]


def test_a_noise_to_image_run_still_projects_beside_translations(translating):
    target = translating.get("/api/runs/digits/image.png?seed=5&class=3&scale=1").content
    translation = translate(translating, rgba_png(20, 20)).json()["id"]
    projection = finished(translating, project(translating, target).json()["id"])
    assert projection["state"] == "done" and "PSNR" in projection["summary"]
    assert translated(translating, translation)["state"] == "done"


def test_a_tiled_translation_reports_its_tiles_and_cancels_between_them(translating, monkeypatch):
    client = translating
    monkeypatch.setattr(client.studio.translations, "tiling", {"tile": 64, "overlap": 16})
    translator = client.studio.translator("upscale", "latest")
    image = rgba_png(40, 40)  # 160x160 after x4 bicubic: 3x3 tiles of 64, 48 apart
    url = lambda tid, rest="": f"/api/translations/{tid}{rest}"  # noqa: E731
    with held_after_first_pass(translator.networks["generator_a2b"]) as (gate, passes):
        running = translate(client, image).json()
        assert running["done"] == 0 and running["total"] is None
        state = wait_for(lambda: (s := client.get(url(running["id"])).json())["done"] and s, 30, what="a tile")
        assert state["state"] == "running" and (state["done"], state["total"]) == (1, 9)
        waiting = translate(client, image).json()["id"]  # queued behind it: cancelled at once
        assert post(client, url(waiting, "/cancel")).json()["state"] == "cancelled"
        asked = post(client, url(running["id"], "/cancel")).json()
        assert asked["state"] == "running" and asked["cancelling"] is True
        assert len(passes) == 2  # the second tile waits
        gate.set()
        state = finished_or_cancelled(client, url(running["id"]))
    assert state["state"] == "cancelled" and state["error"] is None and "output_size" not in state, state
    assert (state["done"], state["total"], len(passes)) == (2, 9, 2)  # the second tile ended, no third began
    folder = client.studio.translations.folder(running["id"])
    assert not (folder / "output.png").exists()
    assert_refused(client.get(url(running["id"], "/files/output.png")), 404)
    assert client.get(url(waiting)).json()["state"] == "cancelled"
    assert not (client.studio.translations.folder(waiting) / "input.png").exists()  # it never ran
    done = translated(client, translate(client, image).json()["id"])  # the next one runs, all its tiles
    assert done["state"] == "done" and done["done"] == done["total"] == 9
    assert post(client, url(done["id"], "/cancel")).json()["state"] == "done"  # an ended one is left as it is
    assert client.get(url(done["id"], "/files/output.png")).status_code == 200
    listed = {item["id"]: item["state"] for item in client.get("/api/runs/upscale/translations").json()["translations"]}
    assert (listed[running["id"]], listed[waiting]) == ("cancelled", "cancelled")
    assert_refused(post(client, url("0123456789ab", "/cancel")), 404)
    assert_refused(post(client, url("nope", "/cancel")), 404)
    assert_refused(client.post(url(done["id"], "/cancel")), 403)  # no origin
