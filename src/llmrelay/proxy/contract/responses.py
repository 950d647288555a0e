"""The request contract of OpenAI's Responses API on the proxy (``POST /v1/responses``;
retrieve and delete are ``GET``/``DELETE /v1/responses/{id}``, see
:mod:`llmrelay.proxy.routes.responses`). Ranges follow OpenAI's API reference; item and
tool types OpenAI keeps adding are checked as objects with a ``type`` (or a ``role``)."""

from __future__ import annotations

from .checks import INT64, AnyOf, Array, Boolean, Integer, Number, Object, String
from .endpoints import Endpoint, add_endpoint

__all__ = ["RESPONSES"]

_TEXT = String()
_ITEM = Object()  # a message ({role, content}) or a typed item ({type, ...})
_INPUT = AnyOf(String(), Array(_ITEM, min_items=1, limit="max_messages"),
               expected="a string or an array of input items")

RESPONSES = add_endpoint(Endpoint(
    call_type="responses", paths=("/v1/responses",),
    summary="Create a model response (OpenAI's Responses API) with any model",
    required={"model": String(min_len=1, nullable=False), "input": _INPUT},
    params={"instructions": _TEXT, "max_output_tokens": Integer(1, INT64),
            "tools": Array(Object({"type": String(nullable=False)}, required=("type",)),
                           max_items=128),
            "tool_choice": AnyOf(String(("none", "auto", "required")), Object(),
                                 expected="a string or an object"),
            "temperature": Number(0, 2), "top_p": Number(0, 1),
            "previous_response_id": String(min_len=1), "reasoning": Object(),
            "text": Object(), "store": Boolean(), "parallel_tool_calls": Boolean(),
            "truncation": String(("auto", "disabled")), "user": _TEXT,
            "include": Array(String()), "background": Boolean(), "service_tier": _TEXT,
            "prompt": Object(), "safety_identifier": _TEXT, "prompt_cache_key": _TEXT,
            "max_tool_calls": Integer(1, INT64), "top_logprobs": Integer(0, 20),
            "conversation": AnyOf(String(), Object(), expected="a string or an object"),
            "stream": Boolean(), "stream_options": Object()},
    response="Response", stream_style="events"))
