"""Serving the studio: bind, pick a token where one is needed, print the URL, run uvicorn until Ctrl-C."""

from __future__ import annotations

import os
import secrets
import socket
import sys
import webbrowser
from pathlib import Path

from ganvas.errors import GanvasError


def access_token(host: str, token: str | None = None) -> str | None:
    """The token a studio on `host` needs: the one given, else none on a loopback address, else a random one."""
    from ganvas.studio.app import is_loopback

    if token is None and not is_loopback(host):
        token = secrets.token_urlsafe(24)
    return token


def serve(runs: str | Path = "runs", data_roots: list[str | Path] = (), host: str = "127.0.0.1", port: int = 8765,
          open_browser: bool = False, max_running: int = 1, token: str | None = None) -> None:
    """Serve the studio on host:port (port 0: any free port) until Ctrl-C.

    Any host but a loopback address gets a random access token (unless `token` gives one), printed in the URL and
    needed on every request. Stopping the studio leaves its training processes running; a studio started again on
    the same runs folder finds them (docs/studio.md).
    """
    import torch
    import uvicorn

    from ganvas.studio.app import create_app, generation_slots

    if not 1 <= max_running <= 64:
        raise GanvasError(f"--jobs must be from 1 to 64, got {max_running}")
    token = access_token(host, token)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as err:
        sock.close()
        raise GanvasError(f"cannot listen on {host}:{port} ({err.strerror}); pick another --port") from None
    sock.listen(128)
    port = sock.getsockname()[1]
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // generation_slots()))
    app = create_app(runs, data_roots, token=token, max_running=max_running, port=port)
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{port}/" + (f"?token={token}" if token else "")
    print(f"ganvas studio: serving {Path(runs).absolute()} at {url}", flush=True)
    print("ganvas studio: Ctrl-C stops the studio; training runs go on (stop them from their page)", flush=True,
          file=sys.stderr)
    if open_browser:
        webbrowser.open(url)
    config = uvicorn.Config(app, log_level="warning", access_log=False, timeout_graceful_shutdown=2,
                            lifespan="on")
    uvicorn.Server(config).run(sockets=[sock])
