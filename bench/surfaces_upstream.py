"""A fast fake upstream for the surfaces benchmark: OpenAI's chat completions and Responses
API and Anthropic's Messages API, streamed, in its own process.

    python bench/surfaces_upstream.py [--port 0]

Prints its base URL (``http://127.0.0.1:<port>/v1``) on stdout, then serves until stdin
closes. Built on bench/proxy_upstream.py (uvloop, httptools, no JSON parsing of requests):
``POST .../chat/completions`` is that server's; ``POST .../messages`` with
``"stream": true`` gets Anthropic's event sequence (``message_start``, a ``ping``, one text
block of five deltas, ``message_delta`` with usage, ``message_stop``); ``POST .../responses``
with ``"stream": true`` gets OpenAI's typed Responses events (``response.created`` ...
five ``response.output_text.delta`` ... ``response.completed`` with usage). Each event is
written in its own HTTP chunk. Non-stream requests to the two new paths get the assembled
message / response.
"""

from __future__ import annotations

from typing import Any

import proxy_upstream
from proxy_upstream import (
    _STREAM_RE,
    CREATED,
    WORDS,
    _Conn,
    _dumps,
    _http_chunk,
    _response,
)

CLAUDE = "claude-3-5-sonnet-20241022"
GPT = "gpt-4o-mini"
TEXT = "".join(WORDS)
_HEAD = (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
         b"Transfer-Encoding: chunked\r\nConnection: %s\r\nrequest-id: req_surfacesbench\r\n\r\n")
_END = b"0\r\n\r\n"


def _named(event: dict[str, Any]) -> bytes:
    return _http_chunk(b"event: " + event["type"].encode() + b"\ndata: " + _dumps(event)
                       + b"\n\n")


def _message(content: list[dict[str, Any]], stop: str | None, usage: dict[str, int]
             ) -> dict[str, Any]:
    return {"id": "msg_surfacesbench", "type": "message", "role": "assistant", "model": CLAUDE,
            "content": content, "stop_reason": stop, "stop_sequence": None, "usage": usage}


def _anthropic_events() -> list[bytes]:
    start = _message([], None, {"input_tokens": 10, "output_tokens": 1,
                                "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0})
    events: list[dict[str, Any]] = [
        {"type": "message_start", "message": start}, {"type": "ping"},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}]
    events += [{"type": "content_block_delta", "index": 0,
                "delta": {"type": "text_delta", "text": w}} for w in WORDS]
    events += [{"type": "content_block_stop", "index": 0},
               {"type": "message_delta", "delta": {"stop_reason": "end_turn",
                                                   "stop_sequence": None},
                "usage": {"output_tokens": 5}},
               {"type": "message_stop"}]
    return [_named(e) for e in events]


def _response_obj(status: str, output: list[dict[str, Any]],
                  usage: dict[str, Any] | None) -> dict[str, Any]:
    return {"id": "resp_surfacesbench", "object": "response", "created_at": CREATED,
            "status": status, "model": GPT, "output": output, "parallel_tool_calls": True,
            "tool_choice": "auto", "tools": [], "text": {"format": {"type": "text"}},
            "usage": usage, "error": None, "incomplete_details": None, "instructions": None,
            "metadata": {}, "temperature": 1.0, "top_p": 1.0, "truncation": "disabled"}


_USAGE = {"input_tokens": 10, "input_tokens_details": {"cached_tokens": 0},
          "output_tokens": 5, "output_tokens_details": {"reasoning_tokens": 0},
          "total_tokens": 15}
_PART = {"type": "output_text", "text": TEXT, "annotations": []}
_ITEM = {"id": "msg_item_bench", "type": "message", "status": "completed", "role": "assistant",
         "content": [_PART]}


def _responses_events() -> list[bytes]:
    item0 = {**_ITEM, "status": "in_progress", "content": []}
    base = {"item_id": "msg_item_bench", "output_index": 0, "content_index": 0}
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": _response_obj("in_progress", [], None)},
        {"type": "response.in_progress", "response": _response_obj("in_progress", [], None)},
        {"type": "response.output_item.added", "output_index": 0, "item": item0},
        {"type": "response.content_part.added", **base,
         "part": {"type": "output_text", "text": "", "annotations": []}}]
    events += [{"type": "response.output_text.delta", **base, "delta": w} for w in WORDS]
    events += [{"type": "response.output_text.done", **base, "text": TEXT},
               {"type": "response.content_part.done", **base, "part": _PART},
               {"type": "response.output_item.done", "output_index": 0, "item": _ITEM},
               {"type": "response.completed",
                "response": _response_obj("completed", [_ITEM], _USAGE)}]
    return [_named({**e, "sequence_number": i}) for i, e in enumerate(events)]


ANTHROPIC_EVENTS = b"".join(_anthropic_events())
RESPONSES_EVENTS = b"".join(_responses_events())
MESSAGE = _dumps(_message([{"type": "text", "text": TEXT}], "end_turn",
                          {"input_tokens": 10, "output_tokens": 5}))
RESPONSE = _dumps(_response_obj("completed", [_ITEM], _USAGE))


class _SurfacesConn(_Conn):
    """proxy_upstream's connection, plus ``/messages`` and ``/responses``."""

    def on_message_complete(self) -> None:
        t = self.transport
        path = self.url.split(b"?", 1)[0]
        if t is None or t.is_closing() or self.parser.get_method() != b"POST" or not (
                path.endswith(b"/messages") or path.endswith(b"/responses")):
            super().on_message_complete()
            return
        close = not self.parser.should_keep_alive()
        anthropic = path.endswith(b"/messages")
        if _STREAM_RE.search(b"".join(self.body)):
            t.write(_HEAD % (b"close" if close else b"keep-alive"))
            t.write(ANTHROPIC_EVENTS if anthropic else RESPONSES_EVENTS)
            t.write(_END)
        else:
            t.write(_response(b"200 OK", b"application/json",
                              MESSAGE if anthropic else RESPONSE, close))
        if close:
            t.close()


def main() -> None:
    """proxy_upstream's server and options, answering with :class:`_SurfacesConn`."""
    proxy_upstream._Conn = _SurfacesConn  # type: ignore[misc]
    proxy_upstream.main()


if __name__ == "__main__":
    main()
