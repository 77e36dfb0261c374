"""A bounded load test of a running studio, on 127.0.0.1 only: 8 concurrent clients, hundreds of requests
(cards, curves, grids from the generator, sample files, static files, a live stream), no errors, and the server's
memory bounded."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

pytest.importorskip("fastapi", reason="the studio extra is not installed: pip install -e '.[studio,studio-test]'")
httpx2 = pytest.importorskip("httpx2", reason="the studio-test extra is not installed: pip install -e '.[studio-test]'")

from test_studio_support import StudioProcess, fixture_runs  # noqa: E402

CLIENTS, REQUESTS_EACH = 8, 40


def paths(client_index: int) -> list[str]:
    mix = ["/api/runs", "/api/runs/digits", "/api/runs/digits/curves", "/api/runs/digits/grid.png?n=16&seed={s}",
           "/api/runs/classic/image.png?seed={s}", "/api/runs/digits/samples/latest.png", "/static/app.js",
           "/api/runs/digits/variations.png?seed={s}&n=8", "/api/runs/nope", "/api/runs/digits/grid.png?n=101"]
    return [mix[i % len(mix)].format(s=client_index * 1000 + i) for i in range(REQUESTS_EACH)]


def test_eight_clients_hundreds_of_requests(tmp_path):
    runs = fixture_runs(tmp_path / "runs")
    server = StudioProcess(runs)
    try:
        base = server.url
        assert base.startswith("http://127.0.0.1:")  # loopback only, ever
        with httpx2.Client(base_url=base, timeout=30) as warm:
            for path in paths(99)[:10]:
                warm.get(path)  # load both generators once
        before = server.rss_bytes()

        def client(index: int) -> list[tuple[str, int, float]]:
            seen = []
            with httpx2.Client(base_url=base, timeout=30) as http:
                for path in paths(index):
                    started = time.perf_counter()
                    response = http.get(path)
                    seen.append((path, response.status_code, time.perf_counter() - started))
                    expected = 404 if path == "/api/runs/nope" else 400 if "n=101" in path else 200
                    assert response.status_code == expected, (path, response.status_code, response.text[:200])
                    if expected != 200:
                        assert response.json()["error"]
            return seen

        started = time.perf_counter()
        with ThreadPoolExecutor(CLIENTS) as pool:
            results = [row for rows in pool.map(client, range(CLIENTS)) for row in rows]
        elapsed = time.perf_counter() - started
        assert len(results) == CLIENTS * REQUESTS_EACH == 320
        grew = server.rss_bytes() - before
        assert grew < 150 * 2**20, f"the server grew by {grew / 2**20:.0f} MB over {len(results)} requests"
        print(f"{len(results)} requests from {CLIENTS} clients in {elapsed:.1f} s; the server grew {grew / 2**20:.1f} MB")
        assert elapsed < 120, elapsed

        with httpx2.Client(base_url=base, timeout=30) as http:  # a live stream still answers after all that
            with http.stream("GET", "/api/stream") as stream:
                assert stream.status_code == 200
                assert stream.headers["content-type"].startswith("text/event-stream")
                first = next(stream.iter_lines())
                assert first == "event: runs"
        assert server.process.poll() is None
        assert not [line for line in server.stderr_lines if "Traceback" in line], server.stderr_lines
    finally:
        server.stop()
