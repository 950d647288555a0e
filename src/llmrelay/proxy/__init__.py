"""The llmrelay proxy: an OpenAI-compatible gateway server (``llmrelay serve``).

Needs the ``proxy`` extra (``pip install 'llmrelay[proxy]'``). :func:`create_app` builds
the ASGI app from a config (:func:`load_config`); :func:`serve` runs it with uvicorn.
The SDK never imports this package.
"""

from __future__ import annotations

from typing import Any

__all__ = ["create_app", "load_config", "serve"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from .app import create_app

        return create_app
    if name == "load_config":
        from .config import load_config

        return load_config
    if name == "serve":
        from .server import serve

        return serve
    raise AttributeError(name)
