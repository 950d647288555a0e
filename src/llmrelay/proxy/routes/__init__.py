"""HTTP routes of the proxy, one module per concern; :func:`routes` lists them all."""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

__all__ = ["routes"]


def routes() -> list[BaseRoute]:
    from . import docs, health, keys, llm, management, metrics, model_health, models, spend

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
        Route("/health", model_health.model_health, methods=["GET"]),
        Route("/health/liveliness", health.liveliness, methods=["GET"]),
        Route("/health/liveness", health.liveliness, methods=["GET"]),
        Route("/health/readiness", health.readiness, methods=["GET"]),
        Route("/metrics", metrics.metrics, methods=["GET"]),
        Route("/key/generate", keys.generate, methods=["POST"]),
        Route("/key/update", keys.update, methods=["POST"]),
        Route("/key/delete", keys.delete, methods=["POST"]),
        Route("/key/info", keys.info, methods=["GET"]),
        Route("/key/regenerate", keys.regenerate, methods=["POST"]),
        Route("/key/{key}/regenerate", keys.regenerate, methods=["POST"]),
        Route("/key/list", keys.list_keys, methods=["GET"]),
        Route("/spend/logs", spend.logs, methods=["GET"]),
        Route("/spend/keys", spend.keys, methods=["GET"]),
        Route("/openapi.json", docs.openapi, methods=["GET"]),
    ]
    out += management.routes()
    return out
