"""OpenAI's Responses API shapes: the response object, its usage, the typed stream
events, and the answer to a delete.

Output items stay plain dicts in OpenAI's shapes (``message`` with ``output_text`` parts,
``function_call``, ``reasoning`` ...); ``output_text`` joins the text of every message,
as the OpenAI SDK's property does. A stream yields :class:`ResponsesStreamEvent` objects
(``type``, ``sequence_number`` and the event's fields); the terminal ones
(``response.completed``, ``response.incomplete``, ``response.failed``) carry the whole
response, whose usage is the event's ``usage``.
"""

from __future__ import annotations

import time
from typing import Any

from .media import REDACTED, ImageUsage, _clone
from .responses import OpenAIObject, new_id

__all__ = ["TERMINAL_EVENTS", "DeleteResponseResult", "ResponseAPIUsage",
           "ResponsesAPIResponse", "ResponsesStreamEvent", "assemble_response",
           "input_items", "redact_items"]

TERMINAL_EVENTS = frozenset({"response.completed", "response.incomplete", "response.failed"})


class ResponseAPIUsage(ImageUsage):
    """``input_tokens`` (``input_tokens_details.cached_tokens``), ``output_tokens``
    (``output_tokens_details.reasoning_tokens``), ``total_tokens``."""


def input_items(value: Any) -> list[dict[str, Any]]:
    """A Responses ``input`` as a list of items (a string is one user message)."""
    if isinstance(value, str):
        return [{"role": "user", "content": value}]
    if isinstance(value, list):
        return [v if isinstance(v, dict) else {"role": "user", "content": str(v)}
                for v in value]
    return []


def redact_items(items: Any) -> Any:
    """Input or output items with their text, arguments, outputs and summaries replaced."""
    if isinstance(items, str):
        return REDACTED
    if not isinstance(items, list):
        return items
    out: list[Any] = []
    for item in items:
        if not isinstance(item, dict):
            out.append(REDACTED)
            continue
        it = dict(item)
        for key in ("text", "arguments", "output", "result", "encrypted_content",
                    "refusal", "delta"):
            if it.get(key) is not None:
                it[key] = REDACTED
        for key in ("content", "summary"):
            if isinstance(it.get(key), list):
                it[key] = redact_items(it[key])
            elif it.get(key) is not None:
                it[key] = REDACTED
        out.append(it)
    return out


class ResponsesAPIResponse(OpenAIObject):
    """A response (``object == "response"``)."""

    _fields = {"id": None, "object": "response", "created_at": None, "status": "completed",
               "error": None, "incomplete_details": None, "instructions": None,
               "max_output_tokens": None, "model": None, "output": None,
               "parallel_tool_calls": True, "previous_response_id": None, "reasoning": None,
               "store": True, "temperature": None, "text": None, "tool_choice": "auto",
               "tools": None, "top_p": None, "truncation": "disabled", "usage": None,
               "user": None, "metadata": None}
    _children = {"usage": ResponseAPIUsage}
    id: str
    status: str
    model: str | None
    output: list[dict[str, Any]]
    usage: ResponseAPIUsage | None
    previous_response_id: str | None

    def _post(self) -> None:
        d = self.__dict__
        if d["id"] is None:
            d["id"] = new_id("resp_")
        if d["created_at"] is None:
            d["created_at"] = int(time.time())
        for name, empty in (("output", []), ("tools", []), ("metadata", {}),
                            ("text", {"format": {"type": "text"}})):
            if d[name] is None:
                d[name] = empty
        d.setdefault("_hidden_params", {})

    @property
    def output_text(self) -> str:
        """The text of every ``message`` output item, joined."""
        return "".join(part.get("text") or "" for item in self.output
                       if isinstance(item, dict) and item.get("type") == "message"
                       for part in item.get("content") or []
                       if isinstance(part, dict) and part.get("type") == "output_text")

    def _redacted(self) -> ResponsesAPIResponse:
        out: ResponsesAPIResponse = _clone(self)
        out.__dict__["output"] = redact_items(self.output)
        if out.__dict__.get("instructions"):
            out.__dict__["instructions"] = REDACTED
        return out


class ResponsesStreamEvent(OpenAIObject):
    """One event of a Responses stream: ``type``, ``sequence_number`` and its fields."""

    _fields = {"type": None}
    _children = {"response": ResponsesAPIResponse}
    type: str

    @property
    def usage(self) -> ResponseAPIUsage | None:
        """The response's usage on a terminal event; None on the others."""
        if self.__dict__.get("type") in TERMINAL_EVENTS:
            response = self.__dict__.get("response")
            return getattr(response, "usage", None)
        return None

    def _redacted(self) -> ResponsesStreamEvent:
        out: ResponsesStreamEvent = _clone(self)
        d = out.__dict__
        for key in ("delta", "text", "arguments", "refusal"):
            if isinstance(d.get(key), str):
                d[key] = REDACTED
        for key in ("item", "part"):
            if isinstance(d.get(key), dict):
                d[key] = redact_items([d[key]])[0]
        if isinstance(d.get("response"), ResponsesAPIResponse):
            d["response"] = d["response"]._redacted()
        return out


class DeleteResponseResult(OpenAIObject):
    """The answer to deleting a stored response."""

    _fields = {"id": None, "object": "response", "deleted": True}


def assemble_response(events: list[Any], messages: Any = None) -> ResponsesAPIResponse | None:
    """The response a stream carried: the terminal event's, else the last one any event
    held (an abandoned stream), with the text seen so far; None when nothing came."""
    last: ResponsesAPIResponse | None = None
    texts: list[str] = []
    for ev in events:
        response = getattr(ev, "response", None)
        if isinstance(response, ResponsesAPIResponse):
            last = response
            if getattr(ev, "type", None) in TERMINAL_EVENTS:
                return response
        if getattr(ev, "type", None) == "response.output_text.delta":
            texts.append(str(getattr(ev, "delta", "") or ""))
    if last is None:
        return None
    partial = ResponsesAPIResponse(**{**last.model_dump(), "status": "incomplete"})
    if texts and not partial.output:
        partial.output = [{"type": "message", "id": new_id("msg_"), "role": "assistant",
                           "status": "incomplete", "content": [
                               {"type": "output_text", "text": "".join(texts),
                                "annotations": []}]}]
    return partial
