"""HTTP routes of the proxy, one module per concern; :func:`routes` lists them all.

The LLM, model list, liveness/readiness and metrics routes are imported with the app;
the model health check, key, spend, report, management and OpenAPI routes are
:func:`lazy`: their modules are imported by the first request to one of them, so a
process that only serves LLM requests never loads them (about a megabyte of its resident
memory)."""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

__all__ = ["lazy", "routes"]

Endpoint = Callable[[Request], Awaitable[Response]]


def lazy(module: str, pick: str | Callable[[Any], Endpoint]) -> Endpoint:
    """The endpoint ``pick`` of ``llmrelay.proxy.routes.<module>`` (an attribute name, or
    a function of the module giving the endpoint), found when the route is first
    requested."""
    found: Endpoint | None = None

    async def endpoint(request: Request) -> Response:
        nonlocal found
        if found is None:
            mod = importlib.import_module(f"{__name__}.{module}")
            found = getattr(mod, pick) if isinstance(pick, str) else pick(mod)
        return await found(request)

    endpoint.__name__ = endpoint.__qualname__ = pick if isinstance(pick, str) else module
    return endpoint


def routes() -> list[BaseRoute]:
    from . import health, llm, management, metrics, models

    out: list[BaseRoute] = []
    for prefix in ("/v1", ""):
        out += [
            Route(prefix + "/chat/completions", llm.chat_completions, methods=["POST"]),
            Route(prefix + "/completions", llm.completions, methods=["POST"]),
            Route(prefix + "/embeddings", llm.embeddings, methods=["POST"]),
            Route(prefix + "/models", models.list_models, methods=["GET"]),
            Route(prefix + "/models/{model_id:path}", models.get_model, methods=["GET"]),
        ]
    from ..contract import ENDPOINTS
    from . import responses

    out += [Route("/v1/responses/{response_id}", responses.get_response, methods=["GET"]),
            Route("/v1/responses/{response_id}", responses.delete_response,
                  methods=["DELETE"])]

    for call_type, endpoint in ENDPOINTS.items():  # the endpoints beyond chat (above)
        if call_type not in llm.OWN_ROUTES:
            out += [Route(path, llm.handler(call_type), methods=["POST"])
                    for path in endpoint.paths]
    out += [
        Route("/health", lazy("model_health", "model_health"), methods=["GET"]),
        Route("/health/liveliness", health.liveliness, methods=["GET"]),
        Route("/health/liveness", health.liveliness, methods=["GET"]),
        Route("/health/readiness", health.readiness, methods=["GET"]),
        Route("/metrics", metrics.metrics, methods=["GET"]),
        Route("/key/generate", lazy("keys", "generate"), methods=["POST"]),
        Route("/key/update", lazy("keys", "update"), methods=["POST"]),
        Route("/key/delete", lazy("keys", "delete"), methods=["POST"]),
        Route("/key/info", lazy("keys", "info"), methods=["GET"]),
        Route("/key/regenerate", lazy("keys", "regenerate"), methods=["POST"]),
        Route("/key/{key}/regenerate", lazy("keys", "regenerate"), methods=["POST"]),
        Route("/key/list", lazy("keys", "list_keys"), methods=["GET"]),
        Route("/spend/logs", lazy("spend", "logs"), methods=["GET"]),
        Route("/spend/keys", lazy("spend", "keys"), methods=["GET"]),
        Route("/openapi.json", lazy("docs", "openapi"), methods=["GET"]),
    ]
    out += management.routes()
    return out
