"""``GET /openapi.json``: an OpenAPI 3.1 document of every route, its bodies and errors.

The LLM endpoints' request bodies are generated from the request contract
(:mod:`llmrelay.proxy.contract`) and the running config (its model groups, its limits,
the parameters ``allowed_request_params`` adds), so the document says what this proxy
accepts. Every other route is described in :data:`OPERATIONS`, keyed by method and path
as the route table names them; a test keeps the two in step.
"""

from __future__ import annotations

from typing import Any

from .contract import ENDPOINTS, CallerPolicy, Endpoint
from .contract.policy import CREDENTIALS, GATEWAY, MOCKS, OPTIONS, PROVIDER_EXTRAS
from .openapi_admin import operations as admin_operations
from .openapi_admin import report_operations
from .routes.spend_views import VIEWS as SPEND_VIEWS

__all__ = ["OPERATIONS", "document"]

_NULLABLE_STR = {"type": ["string", "null"]}
_NULLABLE_INT = {"type": ["integer", "null"]}
_NULLABLE_NUM = {"type": ["number", "null"]}


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_ERROR = _json(_ref("Error"), "An error in OpenAI's shape")
_ERRORS = {"4XX": _ERROR, "5XX": _ERROR}

_KEY_RECORD = {"type": "object", "required": ["token"], "properties": {
    "token": {"type": "string"}, "key_alias": _NULLABLE_STR, "user_id": _NULLABLE_STR,
    "team_id": _NULLABLE_STR, "models": {"type": "array", "items": {"type": "string"}},
    "max_budget": _NULLABLE_NUM, "budget_duration": _NULLABLE_STR,
    "budget_reset_at": _NULLABLE_STR, "rpm_limit": _NULLABLE_INT, "tpm_limit": _NULLABLE_INT,
    "max_parallel_requests": _NULLABLE_INT, "expires": _NULLABLE_STR,
    "metadata": {"type": "object"}, "spend": {"type": "number"},
    "created_at": _NULLABLE_STR, "blocked": {"type": "boolean"},
    "aliases": {"type": "object", "additionalProperties": {"type": "string"}},
    "tags": {"type": "array", "items": {"type": "string"}}, "soft_budget": _NULLABLE_NUM}}
_COUNT = {"type": ["integer", "null"], "minimum": 0, "maximum": 2**31 - 1}
_KEY_FIELDS = {
    "key_alias": _NULLABLE_STR, "user_id": _NULLABLE_STR, "team_id": _NULLABLE_STR,
    "models": {"type": ["array", "null"], "items": {"type": "string"}},
    "max_budget": {"type": ["number", "null"], "minimum": 0, "maximum": 1e15},
    "budget_duration": {"type": ["string", "null"], "examples": ["30d", "1h"]},
    "rpm_limit": _COUNT, "tpm_limit": _COUNT, "max_parallel_requests": _COUNT,
    "duration": {"type": ["string", "null"], "examples": ["30d"]},
    "expires": {"type": ["string", "null"], "format": "date-time"},
    "metadata": {"type": ["object", "null"]}, "blocked": {"type": ["boolean", "null"]},
    "spend": {"type": "number", "minimum": 0}, "budget_reset_at": _NULLABLE_STR,
    "aliases": {"type": ["object", "null"], "additionalProperties": {
        "type": "string", "minLength": 1}},
    "tags": {"type": ["array", "null"], "items": {"type": "string", "minLength": 1}},
    "soft_budget": {"type": ["number", "null"], "minimum": 0, "maximum": 1e15}}
_KEY_OR_TOKEN = {"type": "string", "description": "a key (sk-...) or its token (hash)"}


def _op(summary: str, ok: dict[str, Any], *, tags: tuple[str, ...], body: Any = None,
        query: dict[str, Any] | None = None, open_: bool = False) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "tags": list(tags), "responses": {"200": ok,
                                                                               **_ERRORS}}
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {
            "schema": body}}}
    if query:
        op["parameters"] = [{"name": n, "in": "query", "required": req, "schema": s}
                            for n, (s, req) in query.items()]
    if open_:
        op["security"] = [{}]
    return op


_TEXT = {"type": "string"}
# One server-sent event: ``data`` holds a JSON chunk, an error object, or ``[DONE]``.
_SSE_EVENT = {"type": "object", "required": ["data"], "properties": {"data": _TEXT}}
OPERATIONS: dict[tuple[str, str], dict[str, Any]] = {
    ("GET", "/health/liveliness"): _op("The process answers", _json(_ref("Liveliness")),
                                       tags=("Health",), open_=True),
    ("GET", "/health/liveness"): _op("The process answers (alias)", _json(_ref("Liveliness")),
                                     tags=("Health",), open_=True),
    ("GET", "/health/readiness"): _op(
        "Database, spend writer and cache state (details may need a key: "
        "general_settings.require_auth_for_health_details)", _json(_ref("Readiness")),
        tags=("Health",), open_=True),
    ("GET", "/health"): _op(
        "Whether each deployment answers now: one small real call per deployment the key "
        "may use (no callbacks, cache or spend record)", _json(_ref("ModelHealth")),
        tags=("Health",), query={"model": (_TEXT, False)}),
    ("GET", "/metrics"): _op(
        "Prometheus metrics (may need a key: require_auth_for_metrics_endpoint)",
        {"description": "Prometheus text format", "content": {"text/plain": {
            "schema": _TEXT}}}, tags=("Health",), open_=True),
    ("GET", "/openapi.json"): _op("This document", _json({"type": "object"}),
                                  tags=("Health",), open_=True),
    ("POST", "/key/generate"): _op(
        "Create a virtual key (master key only)", _json(_ref("GeneratedKey")), tags=("Keys",),
        body={"type": "object", "properties": {**_KEY_FIELDS, "key": {
            "type": "string", "pattern": "^[\\x21-\\x7e]{8,256}$"}}}),
    ("POST", "/key/update"): _op(
        "Change a virtual key (master key only)", _json(_ref("KeyRecord")), tags=("Keys",),
        body={"type": "object", "required": ["key"], "properties": {
            **_KEY_FIELDS, "key": _KEY_OR_TOKEN}}),
    ("POST", "/key/delete"): _op(
        "Delete virtual keys (master key only)", _json({"type": "object", "required": [
            "deleted_keys", "deleted"], "properties": {
            "deleted_keys": {"type": "array", "items": _TEXT}, "deleted": {"type": "integer"}}}),
        tags=("Keys",), body={"type": "object", "required": ["keys"], "properties": {
            "keys": {"type": "array", "items": _KEY_OR_TOKEN, "minItems": 1,
                     "maxItems": 1000}}}),
    ("GET", "/key/info"): _op(
        "One virtual key (any key with the master key; a virtual key: its own, the default)",
        _json({"type": "object", "required": [
            "key", "info"], "properties": {"key": _TEXT, "info": _ref("KeyRecord")}}),
        tags=("Keys",), query={"key": (_KEY_OR_TOKEN, False)}),
    ("POST", "/key/regenerate"): _op(
        "A new key with an old one's settings and spend; the old one stops working "
        "(master key, or a virtual key for itself)", _json(_ref("GeneratedKey")),
        tags=("Keys",), body={"type": "object", "properties": {
            **_KEY_FIELDS, "key": _KEY_OR_TOKEN,
            "new_key": {"type": "string", "pattern": "^[\\x21-\\x7e]{8,256}$"}}}),
    ("POST", "/key/{key}/regenerate"): {
        **_op("As POST /key/regenerate, the old key in the path", _json(_ref("GeneratedKey")),
              tags=("Keys",)),
        "parameters": [{"name": "key", "in": "path", "required": True,
                        "schema": _KEY_OR_TOKEN}]},
    ("GET", "/key/list"): _op(
        "Virtual keys (master key only)", _json({"type": "object", "required": [
            "keys", "total_count"], "properties": {
            "keys": {"type": "array", "items": _ref("KeyRecord")},
            "total_count": {"type": "integer"}}}),
        tags=("Keys",), query={"user_id": (_TEXT, False), "team_id": (_TEXT, False)}),
    ("GET", "/spend/logs"): _op(
        "Usage records (the request log), newest first (admins and viewers: all; team "
        "admins: their team's; users: their own)",
        _json({"type": "array", "items": {"type": "object"}}), tags=("Spend",),
        query={"api_key": (_KEY_OR_TOKEN, False), "user_id": (_TEXT, False),
               "team_id": (_TEXT, False), "model": (_TEXT, False), "status": (_TEXT, False),
               "request_id": (_TEXT, False), "offset": ({"type": "integer", "minimum": 0},
                                                        False),
               "start_date": ({"type": "string", "format": "date-time"}, False),
               "end_date": ({"type": "string", "format": "date-time"}, False),
               "limit": ({"type": "integer", "minimum": 1}, False)}),
    ("GET", "/spend/keys"): _op("Spend per key (admins and viewers)",
                                _json({"type": "array", "items": {"type": "object"}}),
                                tags=("Spend",)),
}
for _method, _summary, _answer in (
        ("GET", "A response made through this proxy (by this key)", "Response"),
        ("DELETE", "Delete a stored response made through this proxy (by this key)",
         "DeletedResponse")):
    OPERATIONS[(_method, "/v1/responses/{response_id}")] = {
        **_op(_summary, _json(_ref(_answer)), tags=("LLM",)),
        "parameters": [{"name": "response_id", "in": "path", "required": True,
                        "schema": _TEXT}]}
for _prefix in ("/v1", ""):
    OPERATIONS[("GET", _prefix + "/models")] = _op(
        "The model groups this key may use", _json(_ref("ModelList")), tags=("Models",))
    OPERATIONS[("GET", _prefix + "/models/{model_id}")] = {
        **_op("One model group", _json(_ref("Model")), tags=("Models",)),
        "parameters": [{"name": "model_id", "in": "path", "required": True,
                        "schema": _TEXT}]}

OPERATIONS.update(admin_operations(_op, _json, _ref("KeyRecord")))
OPERATIONS.update(report_operations(_op, SPEND_VIEWS))

_COMPONENTS: dict[str, Any] = {
    "Error": {"type": "object", "required": ["error"], "properties": {"error": {
        "type": "object", "required": ["message", "type", "param", "code"], "properties": {
            "message": _TEXT, "type": _TEXT, "param": _NULLABLE_STR,
            "code": {"type": ["string", "integer", "null"]}}}}},
    "ChatCompletion": {"type": "object", "required": ["id", "object", "model", "choices"],
                       "properties": {
        "id": _TEXT, "object": {"const": "chat.completion"}, "created": {"type": "integer"},
        "model": _TEXT, "usage": {"type": ["object", "null"]},
        "choices": {"type": "array", "items": {"type": "object", "required": [
            "index", "message"], "properties": {
                "index": {"type": "integer"}, "finish_reason": _NULLABLE_STR,
                "message": {"type": "object", "required": ["role"], "properties": {
                    "role": _TEXT, "content": _NULLABLE_STR}}}}}}},
    "Completion": {"type": "object", "required": ["id", "object", "model", "choices"],
                   "properties": {
        "id": _TEXT, "object": {"const": "text_completion"}, "model": _TEXT,
        "choices": {"type": "array", "items": {"type": "object", "required": ["text"],
                                               "properties": {"text": _TEXT}}}}},
    "EmbeddingList": {"type": "object", "required": ["object", "data", "model"],
                      "properties": {
        "object": {"const": "list"}, "model": _TEXT, "usage": {"type": ["object", "null"]},
        "data": {"type": "array", "items": {"type": "object", "required": [
            "index", "embedding"], "properties": {"index": {"type": "integer"}, "embedding": {
                "anyOf": [{"type": "array", "items": {"type": "number"}}, _TEXT]}}}}}},
    "Model": {"type": "object", "required": ["id", "object"], "properties": {
        "id": _TEXT, "object": {"const": "model"}, "created": {"type": "integer"},
        "owned_by": _TEXT}},
    "ModelList": {"type": "object", "required": ["object", "data"], "properties": {
        "object": {"const": "list"}, "data": {"type": "array", "items": _ref("Model")}}},
    "ImageList": {"type": "object", "required": ["created", "data"], "properties": {
        "created": {"type": "integer"}, "data": {"type": "array", "items": {
            "type": "object", "properties": {"url": _NULLABLE_STR, "b64_json": _NULLABLE_STR,
                                             "revised_prompt": _NULLABLE_STR}}}}},
    "Moderation": {"type": "object", "required": ["id", "model", "results"], "properties": {
        "id": _TEXT, "model": _TEXT, "results": {"type": "array", "items": {
            "type": "object", "required": ["flagged"], "properties": {
                "flagged": {"type": "boolean"}}}}}},
    "Transcription": {"type": "object", "required": ["text"], "properties": {
        "text": _TEXT}},
    "Rerank": {"type": "object", "required": ["results"], "properties": {
        "id": _NULLABLE_STR, "results": {"type": "array", "items": {
            "type": "object", "required": ["index", "relevance_score"], "properties": {
                "index": {"type": "integer"}, "relevance_score": {"type": "number"}}}}}},
    "Response": {"type": "object", "required": ["id", "object", "status", "output"],
                 "properties": {
        "id": _TEXT, "object": {"const": "response"}, "status": _TEXT,
        "model": _NULLABLE_STR, "output": {"type": "array", "items": {"type": "object"}},
        "usage": {"type": ["object", "null"]}}},
    "DeletedResponse": {"type": "object", "required": ["id", "deleted"], "properties": {
        "id": _TEXT, "object": {"const": "response"}, "deleted": {"type": "boolean"}}},
    "AnthropicMessage": {"type": "object", "required": ["id", "type", "role", "content"],
                         "properties": {
        "id": _TEXT, "type": {"const": "message"}, "role": {"const": "assistant"},
        "model": _NULLABLE_STR, "stop_reason": _NULLABLE_STR,
        "content": {"type": "array", "items": {"type": "object", "required": ["type"],
                                               "properties": {"type": _TEXT}}},
        "usage": {"type": "object"}}},
    "AnthropicTokenCount": {"type": "object", "required": ["input_tokens"], "properties": {
        "input_tokens": {"type": "integer", "minimum": 0}}},
    "AnthropicError": {"type": "object", "required": ["type", "error"], "properties": {
        "type": {"const": "error"}, "error": {"type": "object", "required": [
            "type", "message"], "properties": {"type": _TEXT, "message": _TEXT}}}},
    "KeyRecord": _KEY_RECORD,
    "GeneratedKey": {"allOf": [_KEY_RECORD, {"type": "object", "required": ["key"],
                                             "properties": {"key": _TEXT}}]},
    "Liveliness": {"type": "object", "required": ["status"], "properties": {
        "status": {"const": "alive"}}},
    "ModelHealth": {"type": "object", "required": [
        "healthy_endpoints", "unhealthy_endpoints", "healthy_count", "unhealthy_count"],
        "properties": {"healthy_endpoints": {"type": "array", "items": {"type": "object"}},
                       "unhealthy_endpoints": {"type": "array", "items": {
                           "type": "object", "required": ["error"]}},
                       "skipped_endpoints": {"type": "array", "items": {"type": "object"}},
                       "healthy_count": {"type": "integer"},
                       "unhealthy_count": {"type": "integer"}}},
    "Readiness": {"type": "object", "required": ["status"], "properties": {
        "status": {"enum": ["healthy", "degraded"]}}},
}


def _llm_body(endpoint: Endpoint, policy: CallerPolicy, models: list[str]) -> dict[str, Any]:
    limits = policy.limits
    props = {name: check.schema(limits) for name, check in {
        **endpoint.params, **GATEWAY, **PROVIDER_EXTRAS}.items()}
    props.update({name: check.schema(limits) for name, check in endpoint.required.items()})
    if models:
        props["model"] = {"type": "string", "enum": models}
    for name in sorted(policy.allowed):  # widened by general_settings.allowed_request_params
        check = OPTIONS.get(name) or MOCKS.get(name)
        props[name] = check.schema(limits) if check is not None else {}
    if policy.client_credentials:
        props.update({name: check.schema(limits) for name, check in CREDENTIALS.items()})
    if not endpoint.streams:
        props.pop("stream", None)
    return {"type": "object", "required": list(endpoint.required), "properties": props,
            "additionalProperties": False}


def _llm_op(endpoint: Endpoint, policy: CallerPolicy, models: list[str]) -> dict[str, Any]:
    content: dict[str, Any] = {"application/json": {"schema": _ref(endpoint.response)}}
    if endpoint.answer == "audio":
        content = {"audio/*": {"schema": {"type": "string", "format": "binary"}},
                   "application/octet-stream": {"schema": {"type": "string",
                                                           "format": "binary"}}}
    elif endpoint.response == "Transcription":  # text, srt and vtt answers are plain text
        content["text/plain"] = {"schema": _TEXT}
    if endpoint.streams:
        content["text/event-stream"] = {"schema": _SSE_EVENT}
    body = _llm_body(endpoint, policy, models)
    kind = "multipart/form-data" if endpoint.body == "multipart" else "application/json"
    if endpoint.body == "multipart":
        body["properties"] = {k: v for k, v in body["properties"].items()
                              if k not in ("metadata", "litellm_metadata", "cache")}
    errors = _ERRORS if endpoint.errors == "openai" else {
        code: _json(_ref("AnthropicError"), "An error in Anthropic's shape")
        for code in _ERRORS}
    return {"summary": endpoint.summary, "tags": list(endpoint.tags),
            "requestBody": {"required": True, "content": {kind: {"schema": body}}},
            "responses": {"200": {"description": "The answer (a stream of server-sent "
                                                 "events when `stream` is true)",
                                  "content": content}, **errors}}


def document(policy: CallerPolicy, models: list[str], version: str) -> dict[str, Any]:
    """The OpenAPI document for a proxy with this caller policy and these model groups."""
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in ENDPOINTS.values():
        for path in endpoint.paths:
            paths.setdefault(path, {})["post"] = _llm_op(endpoint, policy, models)
    for (method, path), op in OPERATIONS.items():
        paths.setdefault(path, {})[method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "llmrelay proxy", "version": version, "description":
                 "An OpenAI-compatible LLM gateway. Errors are OpenAI-shaped: "
                 '{"error": {"message", "type", "param", "code"}}.'},
        "paths": paths,
        "components": {"schemas": _COMPONENTS, "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer"},
            "x-api-key": {"type": "apiKey", "in": "header", "name": "x-api-key"}}},
        "security": [{"bearer": []}, {"x-api-key": []}],
    }
