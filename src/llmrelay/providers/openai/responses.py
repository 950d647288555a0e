"""OpenAI's Responses API natively (OpenAI, Azure, and servers that offer it):
``POST {base}/responses`` with the caller's request as written, the response as sent,
and the stream's typed events (``event: <type>`` + ``data: <json>``) one
:class:`~llmrelay.types.ResponsesStreamEvent` each. The upstream stores responses itself
(``previous_response_id`` goes to it unchanged); retrieve and delete are
``GET``/``DELETE {base}/responses/{id}``."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from ...exceptions import APIConnectionError
from ...types.responses_api import (
    TERMINAL_EVENTS,
    DeleteResponseResult,
    ResponsesAPIResponse,
    ResponsesStreamEvent,
)
from ..base import (
    RESPONSES_PARAMS,
    Call,
    HTTPRequest,
    body_excerpt,
    decode_json,
    stream_event_object,
)
from ..sse import SSEDecoder
from .surfaces import Surface

__all__ = ["ResponsesDecoder", "ResponsesSurface"]


class ResponsesDecoder:
    """SSE lines -> :class:`ResponsesStreamEvent`; an ``error`` event raises the mapped
    error; a body ending before a terminal event is a cut reply."""

    def __init__(self, call: Call, wire: Any) -> None:
        self._call = call
        self._wire = wire
        self._sse = SSEDecoder()
        self._done = False

    def _event(self, name: str | None, raw: bytes) -> list[ResponsesStreamEvent]:
        if raw == b"[DONE]":
            return []
        data = stream_event_object(self._call, raw, "upstream")
        if data is None:
            return []
        kind = data.get("type") or name
        if kind == "error":
            code = str(data.get("code") or "")
            raise self._wire.map_error(self._call, int(code) if code.isdigit() else 500, {},
                                       json.dumps({"error": data}).encode())
        if kind in TERMINAL_EVENTS:
            self._done = True
        return [ResponsesStreamEvent.from_dict(data)]

    def feed(self, line: bytes) -> list[ResponsesStreamEvent]:
        ev = self._sse.feed(line)
        return [] if ev is None else self._event(*ev)

    def finish(self) -> list[ResponsesStreamEvent]:
        ev = self._sse.flush()
        out = self._event(*ev) if ev is not None else []
        if not self._done:
            raise APIConnectionError("the Responses stream ended before its final event: "
                                     "the reply was cut", llm_provider=self._call.provider,
                                     model=self._call.model)
        return out


class ResponsesSurface(Surface):
    """``responses`` on an OpenAI-style wire."""

    call_type, path, params, streams = "responses", "responses", RESPONSES_PARAMS, True
    stores_responses = True  # the upstream keeps them: previous_response_id is its business

    def body(self, call: Call) -> dict[str, Any]:
        body: dict[str, Any] = {"model": call.model, "input": call.input, **call.params}
        if call.stream:
            body["stream"] = True
        return body

    def parse(self, call: Call, data: Any, raw: bytes) -> ResponsesAPIResponse:
        if not isinstance(data, dict) or data.get("object") != "response":
            raise APIConnectionError(f"upstream reply is not a response: {body_excerpt(raw)}",
                                     llm_provider=call.provider, model=call.model)
        return ResponsesAPIResponse.from_dict(data)  # type: ignore[no-any-return]

    def stream_decoder(self, call: Call) -> ResponsesDecoder:
        return ResponsesDecoder(call, self.wire)

    def stored_request(self, call: Call, response_id: str, method: str) -> HTTPRequest:
        """``GET`` (retrieve) or ``DELETE`` of a stored response."""
        req: HTTPRequest = self.wire.endpoint_request(
            call, f"responses/{quote(response_id, safe='')}", None, method=method)
        return req

    def parse_stored(self, call: Call, method: str, status: int, headers: dict[str, str],
                     body: bytes) -> Any:
        data = decode_json(call, status, headers, body)
        if method == "DELETE":
            return DeleteResponseResult.from_dict(data)
        return self.parse(call, data, body)
