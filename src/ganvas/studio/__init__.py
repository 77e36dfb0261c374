"""ganvas studio: a local web app to train, watch, explore and compare runs (docs/studio.md).

    ganvas studio [--runs runs/] [--data-root DIR]... [--host 127.0.0.1] [--port 8765] [--open]

`serve` runs it (what the command calls); `create_app` builds the ASGI app, for tests and other servers. Both
need the studio extra: pip install 'ganvas[studio]'.
"""

from __future__ import annotations

from ganvas.errors import GanvasError


def _need_extra() -> None:
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        raise GanvasError("the studio needs its extra: pip install 'ganvas[studio]' (FastAPI and uvicorn)") from None


def create_app(*args, **kwargs):
    """The studio's FastAPI app (ganvas.studio.app.create_app)."""
    _need_extra()
    from ganvas.studio.app import create_app as create

    return create(*args, **kwargs)


def serve(*args, **kwargs) -> None:
    """Serve the studio until Ctrl-C (ganvas.studio.server.serve)."""
    _need_extra()
    from ganvas.studio.server import serve as run

    run(*args, **kwargs)
