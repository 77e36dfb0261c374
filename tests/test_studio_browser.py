"""The studio end to end in a real browser: Playwright driving Debian's Chromium (launched by its path; Playwright's
own browser download is not reachable) against `ganvas studio` on 127.0.0.1.

Without chromium or playwright these tests skip, saying why; in CI (CI set) they fail instead, since
scripts/setup.sh installs both there. Each page's screenshot is taken on the way; with
GANVAS_STUDIO_SCREENSHOTS=docs/images they are written there as docs/studio.md's pictures.
"""

from __future__ import annotations

import io
import os
import shutil
import threading
from contextlib import contextmanager
from pathlib import Path

import pytest

from test_studio_support import (StudioProcess, fixture_runs, held_after_first_pass, stand_in_digits,
                                 stop_studio_training, translator_run, wait_for)

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Without the background-networking flags Chromium reaches out to the network on its own.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _missing() -> str | None:
    try:
        import fastapi  # noqa: F401
        import playwright.sync_api  # noqa: F401
    except ImportError as err:
        return f"the studio's test tools are not installed ({err.name}): pip install -e '.[studio,studio-test]'"
    if not Path(CHROMIUM).exists():
        return "no chromium: apt-get install chromium (scripts/setup.sh does, as root)"
    return None


if _missing():
    if os.environ.get("CI"):
        pytest.fail(f"the browser tests must run in CI: {_missing()}", pytrace=False)
    pytest.skip(_missing(), allow_module_level=True)


def screenshot(page, name: str, folder: Path) -> Path:
    """The page as docs/images/studio-NAME.png, in few colours so it stays small."""
    from PIL import Image

    target = Path(os.environ.get("GANVAS_STUDIO_SCREENSHOTS") or folder) / f"studio-{name}.png"
    target.parent.mkdir(parents=True, exist_ok=True)
    picture = Image.open(io.BytesIO(page.screenshot(full_page=True))).convert("RGB")
    picture.quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(target, optimize=True)
    return target


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    base = tmp_path_factory.mktemp("browser")
    runs = fixture_runs(base / "runs")
    translator_run(runs, "upscale")
    (base / "data-root" / "pictures").mkdir(parents=True)
    env = {"GANVAS_DATA_DIR": str(stand_in_digits(base / "digits")), "GANVAS_HOME": str(base / "home")}
    server = StudioProcess(runs, [base / "data-root"], extra_env=env)
    yield server
    try:
        stop_studio_training(server)
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@contextmanager
def opened(browser, url: str, shots: Path):
    """A tab on the studio at `url`, its screenshots kept in `shots`."""
    context = browser.new_context(viewport={"width": 1200, "height": 800}, base_url=url)
    tab = context.new_page()
    tab.set_default_timeout(30_000)
    errors = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    tab.shots = shots
    yield tab
    context.close()
    assert not errors, errors  # no uncaught script error on any page


@pytest.fixture
def page(browser, studio, tmp_path):
    with opened(browser, studio.url, tmp_path) as tab:
        yield tab


@contextmanager
def served(app):
    """The studio app served by uvicorn in a thread of this process on 127.0.0.1, so a test can reach into it (here:
    hold a translation half-way); yields its URL."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", access_log=False,
                                           lifespan="on"))
    thread = threading.Thread(target=server.run, name="studio-under-test", daemon=True)
    thread.start()
    wait_for(lambda: server.started, 30, every=0.05, what="the studio to start")
    try:
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(30)


def loaded(page, selector: str) -> None:
    page.wait_for_function(f"() => {{ const i = document.querySelector({selector!r}); "
                           "return i && i.complete && i.naturalWidth > 0; }")


def test_runs_page_shows_the_fixture_runs(page):
    page.goto("/#/")
    card = page.locator('article.card[data-run="digits"]')
    card.wait_for()
    assert card.locator(".status").inner_text() == "finished"
    assert "mnist · dcgan-cond · mnist" in card.inner_text()
    assert "step 40 / 40" in card.inner_text() and "fid" in card.locator(".quality").inner_text()
    assert card.locator(".alarm").count() >= 1  # the fixture run ends with its alarms on
    loaded(page, 'article.card[data-run="digits"] img')
    assert page.locator('article.card[data-run="classic"]').count() == 1
    screenshot(page, "runs", page.shots)


def test_explore_generates_selects_slides_and_walks(page):
    page.goto("/#/explore/digits")
    loaded(page, "#grid")
    grid = page.locator("#grid")
    before = grid.screenshot()
    first_params = grid.get_attribute("data-params")
    page.locator('.tile[data-index="3"]').click()
    loaded(page, "#selected")
    loaded(page, "#variations")
    assert "seed 3, class 0" in page.inner_text(".explore")
    page.click("text=Add to walk")
    page.locator('.tile[data-index="12"]').click()
    page.wait_for_function("() => document.querySelector('#selected').dataset.params.includes('seed=12')")
    page.click("text=Add to walk")

    page.locator("#truncation").fill("0.5")  # re-renders without a page reload
    page.wait_for_function("() => document.querySelector('#grid').dataset.params.includes('truncation=0.5')")
    loaded(page, "#grid")
    page.wait_for_function("() => document.querySelector('.tiles').dataset.state === 'idle'")
    assert grid.get_attribute("data-params") != first_params
    assert grid.screenshot() != before

    page.click("#preview-walk")
    loaded(page, "#walk")
    gif = page.request.get(page.locator("text=Export GIF").get_attribute("href"))
    assert gif.ok and gif.body()[:6] == b"GIF89a"
    png = page.request.get(page.locator("text=Download grid PNG").get_attribute("href"))
    assert png.ok and png.body()[:4] == b"\x89PNG" and "attachment" in png.headers["content-disposition"]
    screenshot(page, "explore", page.shots)


def test_compare_puts_runs_side_by_side(page):
    page.goto("/#/compare?runs=digits,classic")
    loaded(page, 'figure[data-run="digits"] img')
    loaded(page, 'figure[data-run="classic"] img')
    assert page.locator('figure[data-run="digits"] img').get_attribute("data-step") == "40"
    page.locator("#compare-step").fill("0")
    page.wait_for_function("() => document.querySelector('figure[data-run=\"digits\"] img').dataset.step === '20'")
    assert int(page.locator(".chart").get_attribute("data-points")) == 8  # both runs' d_loss, steps 5 to 40
    screenshot(page, "compare", page.shots)


def test_train_from_the_form_watch_it_and_stop_it(page):
    page.goto("/#/train")
    page.select_option("#preset", "seed")
    page.fill("#run-name", "from-the-form")
    page.select_option("#split", "test")
    page.fill("#option-steps", "1000000")
    for name, value in {"batch_size": "16", "log_every": "10", "sample_every": "40", "eval_every": "0",
                        "checkpoint_every": "1000000"}.items():
        page.fill(f"#option-{name}", value)
    page.wait_for_selector("section.queue h2")  # the queue is on the page, and nothing is in it yet
    assert "Nothing is training or waiting now." in page.inner_text("section.queue")
    screenshot(page, "train", page.shots)
    page.click("#start")
    page.wait_for_url("**/#/run/from-the-form")
    page.wait_for_selector('main[data-status="training"]', timeout=90_000)
    chart = page.locator('.chart[data-chart="Losses"]')
    wait_for(lambda: int(chart.get_attribute("data-points") or 0) >= 2, 60, what="the chart's first points")
    points = int(chart.get_attribute("data-points"))
    wait_for(lambda: int(chart.get_attribute("data-points")) > points, 60, what="the chart to gain points")
    image = page.locator("img.samples")
    wait_for(lambda: image.get_attribute("data-step"), 60, what="a grid")
    step = int(image.get_attribute("data-step"))
    wait_for(lambda: int(image.get_attribute("data-step")) > step, 60, what="the grid to update")
    loaded(page, "img.samples")
    assert "steps/s" in page.inner_text(".progress-text")
    assert "starting" in page.inner_text("pre.log")
    screenshot(page, "run", page.shots)

    page.click("text=Stop")
    page.wait_for_selector('main[data-status="stopped"]', timeout=60_000)
    assert page.locator(".status").first.inner_text() == "stopped"
    page.wait_for_selector("li[data-checkpoint]")
    assert page.locator("li[data-checkpoint]").first.inner_text().startswith("step-")
    page.wait_for_selector("text=Resume")


def test_an_upload_that_is_no_image_gets_a_message(page):
    page.goto("/#/train")
    page.check("#data-upload")
    page.set_input_files("#upload-files", files=[
        {"name": "broken.png", "mimeType": "image/png", "buffer": b"\x89PNG\r\n\x1a\n" + b"\x13" * 200},
        {"name": "notes.txt", "mimeType": "text/plain", "buffer": b"not a picture"}])
    errors = page.locator(".upload-errors li")
    errors.nth(1).wait_for()
    assert "broken.png is a damaged image" in errors.nth(0).inner_text()
    assert "notes.txt is not an image" in errors.nth(1).inner_text()
    assert page.inner_text(".upload-status") == "no images uploaded"
    assert "Traceback" not in page.content()


def test_enhance_projects_a_dropped_image(page):
    target = page.request.get("/api/runs/digits/image.png?seed=9&class=4&scale=1").body()
    page.goto("/#/enhance/digits")
    page.fill("#enhance-steps", "10")
    page.set_input_files("#enhance-file", files=[{"name": "mine.png", "mimeType": "image/png", "buffer": target}])
    page.wait_for_selector('main[data-projection="done"]', timeout=90_000)
    for selector in ("#enhance-target", "#enhance-projection", "#enhance-animation", "#enhance-variations",
                     "#enhance-blend", "#enhance-classes"):
        loaded(page, selector)
    assert "PSNR" in page.inner_text(".summary")
    before = page.get_attribute("#enhance-variations", "data-params")
    page.locator("#enhance-strength").fill("0.8")
    page.wait_for_function("() => document.querySelector('#enhance-variations').dataset.params.includes('0.8')")
    assert page.get_attribute("#enhance-variations", "data-params") != before
    latent = page.request.get(page.locator("text=Latent JSON").get_attribute("href"))
    assert latent.ok and b'"z"' in latent.body()
    screenshot(page, "enhance", page.shots)
    page.set_input_files("#enhance-file", files=[{"name": "bad.png", "mimeType": "image/png", "buffer": b"oops"}])
    page.wait_for_function("() => document.querySelector('#enhance-error').textContent.includes('not an image')")


def smiley(side: int = 32) -> bytes:
    """A small yellow face on a transparent background, as a PNG."""
    from PIL import Image, ImageDraw

    image = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.ellipse((2, 2, side - 3, side - 3), fill=(250, 200, 40, 255), outline=(120, 70, 0, 255))
    for x in (side * 5 // 16, side * 10 // 16):
        draw.ellipse((x, side * 5 // 16, x + side // 8, side * 7 // 16), fill=(60, 30, 0, 255))
    draw.arc((side // 4, side // 4, side * 3 // 4, side * 3 // 4), 30, 150, fill=(60, 30, 0, 255), width=2)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def test_enhance_translates_an_image_with_a_translator_run(page):
    picture = smiley()
    page.goto("/#/enhance")
    link = page.locator('ul.run-list li', has=page.locator('a[href="#/enhance/upscale"]'))
    assert "upscale translator" in link.inner_text()  # listed beside the noise-to-image runs
    link.locator("a").click()
    page.wait_for_selector(".page-head >> text=upscale translator")
    page.set_input_files("#enhance-file", files=[{"name": "mine.png", "mimeType": "image/png", "buffer": picture}])
    page.wait_for_selector('main[data-translation="done"]', timeout=90_000)
    loaded(page, "#enhance-input")
    loaded(page, "#enhance-output")
    sizes = page.evaluate("() => ['#enhance-input', '#enhance-output'].map((s) => document.querySelector(s))"
                          ".map((i) => [i.naturalWidth, i.naturalHeight])")
    assert sizes == [[32, 32], [128, 128]]  # shown beside the input, 4 times larger
    assert "enlarged 4 times" in page.inner_text("#enhance-status")
    result = page.request.get(page.locator("#enhance-download").get_attribute("href"))
    assert result.ok and result.body()[:4] == b"\x89PNG" and "mine-upscale.png" in result.headers["content-disposition"]
    page.locator('.history a[data-translation] img').first.wait_for()
    screenshot(page, "enhance-translate", page.shots)
    page.set_input_files("#enhance-file", files=[{"name": "bad.png", "mimeType": "image/png", "buffer": b"oops"}])
    page.wait_for_function("() => document.querySelector('#enhance-error').textContent.includes('not an image')")


def test_the_train_page_offers_translation_tasks_and_shows_their_checks(page):
    page.goto("/#/train")
    page.select_option("#preset", "cyclegan")
    assert page.locator('label[for="data-dataset"]').is_hidden()  # a task learns from your own images
    assert page.input_value("#option-size") == "64" and page.input_value("#option-model") == "unet"
    page.locator("fieldset.data-b").wait_for()
    page.check("#data-upload")
    page.set_input_files("#upload-files", files=[{"name": "a.png", "mimeType": "image/png", "buffer": smiley()}])
    page.wait_for_function("() => document.querySelector('.upload-status').textContent.includes('ready')")
    page.click("#start")
    error = page.locator("form.train p.error-text")
    wait_for(lambda: "choose a folder or zip under a data root first (Data B)" in error.inner_text(), 10,
             what="the missing folder B")
    page.check("#b-data-upload")
    page.set_input_files("#b-upload-files", files=[{"name": "b.png", "mimeType": "image/png", "buffer": smiley(48)}])
    page.wait_for_function("() => document.querySelector('fieldset.data-b .upload-status').textContent"
                           ".includes('ready')")
    page.check("#option-labels")  # refused by the training options' own checks, shown in the page
    page.click("#start")
    wait_for(lambda: "labels= are for class-conditional noise-to-image models, not task='cyclegan'"
             in error.inner_text(), 10, what="the options' check")
    assert page.evaluate("() => location.hash") == "#/train"  # nothing started
    page.select_option("#preset", "mnist")
    assert page.locator("fieldset.data-b").is_hidden() and page.locator('label[for="data-dataset"]').is_visible()


def test_enhance_shows_a_translations_tiles_and_cancels_it(browser, tmp_path):
    from ganvas.studio import create_app

    runs = tmp_path / "runs"
    translator_run(runs, "upscale")
    app = create_app(runs, poll_s=0.1)
    studio = app.state.studio
    studio.translations.tiling = {"tile": 64, "overlap": 16}  # 40x40, 160x160 after x4 bicubic: 3x3 tiles
    network = studio.translator("upscale", "latest").networks["generator_a2b"]
    with served(app) as url, opened(browser, url, tmp_path) as page, held_after_first_pass(network) as (gate, _):
        page.goto("/#/enhance/upscale")
        page.wait_for_selector(".page-head >> text=upscale translator")
        assert page.locator("#enhance-progress").is_hidden()  # nothing to follow yet
        page.set_input_files("#enhance-file", files=[{"name": "mine.png", "mimeType": "image/png",
                                                      "buffer": smiley(40)}])
        text = page.locator("#enhance-progress-text")
        wait_for(lambda: text.inner_text() == "running: tile 1 of 9", 30, what="the first tile")
        assert page.evaluate("() => ['value', 'max'].map((k) => document.querySelector('#enhance-progress')[k])"
                             ) == [1, 9]
        cancel = page.locator("#enhance-progress-cancel")
        assert cancel.is_visible() and cancel.is_enabled()
        screenshot(page, "enhance-translate-progress", page.shots)
        cancel.click()
        wait_for(lambda: "cancelling" in text.inner_text(), 30, what="the cancel to be asked")
        assert cancel.is_disabled()
        gate.set()  # the second tile ends; the cancel stops the translation before the third
        page.wait_for_selector('main[data-translation="cancelled"]')
        assert text.inner_text() == "cancelled after tile 2 of 9: nothing was kept"
        assert page.inner_text("#enhance-status") == "mine: cancelled"
        assert cancel.is_hidden() and page.locator("section.result").is_hidden()
        assert "cancelled" in page.locator(".history a[data-translation]").first.inner_text()
