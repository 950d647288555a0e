"""A chat completion (or a chat stream) as OpenAI's Responses API answers it.

Output items, in order: a ``reasoning`` item when the reply carries reasoning (its text as
a ``summary_text``), a ``message`` item with one ``output_text`` part, one
``function_call`` item per tool call (``call_id`` = the tool call's id). Status:
``completed``, or ``incomplete`` (``incomplete_details.reason``: ``max_output_tokens`` for
``finish_reason="length"``, ``content_filter``). Usage: ``input_tokens`` (with
``input_tokens_details.cached_tokens``), ``output_tokens`` (with
``output_tokens_details.reasoning_tokens``). The request's settings are echoed as the
Responses API echoes them.

A stream becomes OpenAI's typed event sequence, numbered by ``sequence_number``:
``response.created``, ``response.in_progress``, per item ``response.output_item.added``
then its deltas (``response.reasoning_summary_text.delta``, ``response.output_text.delta``,
``response.function_call_arguments.delta``) and ``*.done`` events, ``response.output_item.
done``, and ``response.completed`` (or ``response.incomplete``) with the whole response.
"""

from __future__ import annotations

import time
from typing import Any

from ...types.responses import new_id
from ...types.responses_api import ResponsesAPIResponse, ResponsesStreamEvent
from ..base import Call

__all__ = ["ResponsesStream", "chat_to_response", "response_shell", "usage_of"]

_ECHO = ("instructions", "max_output_tokens", "parallel_tool_calls", "previous_response_id",
         "reasoning", "store", "temperature", "text", "tool_choice", "tools", "top_p",
         "truncation", "user")


def _get(obj: Any, name: str) -> Any:
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)


def usage_of(usage: Any) -> dict[str, Any]:
    prompt = int(_get(usage, "prompt_tokens") or 0)
    completion = int(_get(usage, "completion_tokens") or 0)
    cached = _get(usage, "cache_read_input_tokens")
    if cached is None:
        cached = _get(_get(usage, "prompt_tokens_details"), "cached_tokens")
    reasoning = _get(_get(usage, "completion_tokens_details"), "reasoning_tokens")
    return {"input_tokens": prompt, "output_tokens": completion,
            "total_tokens": prompt + completion,
            "input_tokens_details": {"cached_tokens": int(cached or 0)},
            "output_tokens_details": {"reasoning_tokens": int(reasoning or 0)}}


def response_shell(call: Call, response_id: str, status: str, model: str | None
                   ) -> dict[str, Any]:
    """A response's fields before its output: id, status, model, the echoed settings."""
    out: dict[str, Any] = {"id": response_id, "object": "response",
                           "created_at": int(time.time()), "status": status,
                           "model": model or call.model, "output": [], "usage": None,
                           "error": None, "incomplete_details": None}
    for name in _ECHO:
        if call.params.get(name) is not None:
            out[name] = call.params[name]
    return out


def _status(finish: Any) -> tuple[str, dict[str, str] | None]:
    if finish == "length":
        return "incomplete", {"reason": "max_output_tokens"}
    if finish == "content_filter":
        return "incomplete", {"reason": "content_filter"}
    return "completed", None


def _message_item(text: str, status: str = "completed") -> dict[str, Any]:
    return {"type": "message", "id": new_id("msg_"), "status": status, "role": "assistant",
            "content": [{"type": "output_text", "text": text, "annotations": []}]}


def _call_item(call_id: str | None, name: Any, arguments: Any,
               status: str = "completed") -> dict[str, Any]:
    return {"type": "function_call", "id": new_id("fc_"),
            "call_id": call_id or new_id("call_"), "name": name,
            "arguments": arguments or "", "status": status}


def _reasoning_item(text: str) -> dict[str, Any]:
    return {"type": "reasoning", "id": new_id("rs_"),
            "summary": [{"type": "summary_text", "text": text}]}


def chat_to_response(call: Call, chat: Call, response: Any) -> ResponsesAPIResponse:
    """The Responses API answer for a chat ``response``."""
    choice = (response.choices or [None])[0]
    msg = getattr(choice, "message", None)
    output: list[dict[str, Any]] = []
    thought = getattr(msg, "reasoning_content", None)
    if thought:
        output.append(_reasoning_item(str(thought)))
    text = getattr(msg, "content", None)
    if text:
        output.append(_message_item(str(text)))
    for tc in getattr(msg, "tool_calls", None) or []:
        output.append(_call_item(tc.id, tc.function.name, tc.function.arguments))
    status, details = _status(getattr(choice, "finish_reason", None))
    out = response_shell(call, new_id("resp_"), status, response.model)
    out.update(output=output, incomplete_details=details, usage=usage_of(response.usage))
    return ResponsesAPIResponse(**out)


class ResponsesStream:
    """Chat chunks in, :class:`ResponsesStreamEvent` out (see the module docstring)."""

    def __init__(self, call: Call) -> None:
        self.call = call
        self.seq = 0
        self.shell: dict[str, Any] | None = None
        self.items: list[dict[str, Any]] = []  # finished output items
        self.open: dict[str, Any] | None = None  # the item being streamed
        self.tools: dict[int, int] = {}  # chat tool-call index -> output index
        self.finish_reason: Any = None
        self.usage: Any = None
        self.done = False

    def _ev(self, kind: str, **fields: Any) -> ResponsesStreamEvent:
        ev = ResponsesStreamEvent(type=kind, sequence_number=self.seq, **fields)
        self.seq += 1
        return ev

    def _snapshot(self, status: str) -> ResponsesAPIResponse:
        assert self.shell is not None
        return ResponsesAPIResponse(**{**self.shell, "status": status,
                                       "output": [dict(i) for i in self.items]})

    def _start(self, chunk: Any) -> list[ResponsesStreamEvent]:
        self.shell = response_shell(self.call, new_id("resp_"), "in_progress",
                                    getattr(chunk, "model", None))
        return [self._ev("response.created", response=self._snapshot("in_progress")),
                self._ev("response.in_progress", response=self._snapshot("in_progress"))]

    def _index(self) -> int:
        return len(self.items)

    def _close(self) -> list[ResponsesStreamEvent]:
        item, self.open = self.open, None
        if item is None:
            return []
        i, out = self._index(), []
        kind = item["type"]
        if kind == "message":
            text = item["content"][0]["text"]
            out += [self._ev("response.output_text.done", item_id=item["id"], output_index=i,
                             content_index=0, text=text, logprobs=[]),
                    self._ev("response.content_part.done", item_id=item["id"],
                             output_index=i, content_index=0, part=item["content"][0])]
        elif kind == "reasoning":
            part = item["summary"][0]
            out += [self._ev("response.reasoning_summary_text.done", item_id=item["id"],
                             output_index=i, summary_index=0, text=part["text"]),
                    self._ev("response.reasoning_summary_part.done", item_id=item["id"],
                             output_index=i, summary_index=0, part=part)]
        else:
            out.append(self._ev("response.function_call_arguments.done", item_id=item["id"],
                                output_index=i, arguments=item["arguments"]))
        item["status"] = "completed"
        out.append(self._ev("response.output_item.done", output_index=i, item=dict(item)))
        self.items.append(item)
        return out

    def _open(self, item: dict[str, Any]) -> list[ResponsesStreamEvent]:
        out = self._close()
        added = {k: v for k, v in item.items()}
        if item["type"] == "message":
            added["content"], added["status"] = [], "in_progress"
        elif item["type"] == "reasoning":
            added["summary"] = []
        else:
            added["status"] = "in_progress"
        self.open = item
        i = self._index()
        out.append(self._ev("response.output_item.added", output_index=i, item=added))
        if item["type"] == "message":
            out.append(self._ev("response.content_part.added", item_id=item["id"],
                                output_index=i, content_index=0, part={
                                    "type": "output_text", "text": "", "annotations": []}))
        elif item["type"] == "reasoning":
            out.append(self._ev("response.reasoning_summary_part.added", item_id=item["id"],
                                output_index=i, summary_index=0,
                                part={"type": "summary_text", "text": ""}))
        return out

    def _text(self, kind: str, text: str) -> list[ResponsesStreamEvent]:
        out: list[ResponsesStreamEvent] = []
        if self.open is None or self.open["type"] != kind:
            out += self._open(_message_item("") if kind == "message" else _reasoning_item(""))
        item, i = self.open, self._index()
        assert item is not None
        if kind == "message":
            item["content"][0]["text"] += text
            out.append(self._ev("response.output_text.delta", item_id=item["id"],
                                output_index=i, content_index=0, delta=text, logprobs=[]))
        else:
            item["summary"][0]["text"] += text
            out.append(self._ev("response.reasoning_summary_text.delta", item_id=item["id"],
                                output_index=i, summary_index=0, delta=text))
        return out

    def _tool(self, tc: Any) -> list[ResponsesStreamEvent]:
        out: list[ResponsesStreamEvent] = []
        pos = int(getattr(tc, "index", 0) or 0)
        fn = getattr(tc, "function", None)
        if pos not in self.tools:
            out += self._open(_call_item(getattr(tc, "id", None), getattr(fn, "name", None),
                                         "", "in_progress"))
            self.tools[pos] = self._index()
        args = getattr(fn, "arguments", None)
        item = self.open
        if args and item is not None and self.tools[pos] == self._index():
            item["arguments"] += args
            out.append(self._ev("response.function_call_arguments.delta", item_id=item["id"],
                                output_index=self._index(), delta=args))
        return out

    def feed(self, chunk: Any) -> list[ResponsesStreamEvent]:
        out = [] if self.shell is not None else self._start(chunk)
        usage = getattr(chunk, "usage", None)
        if usage is not None and _get(usage, "total_tokens"):
            self.usage = usage
        for choice in getattr(chunk, "choices", None) or []:
            if (choice.index or 0) != 0:
                continue
            d = choice.delta
            if getattr(d, "reasoning_content", None):
                out += self._text("reasoning", str(d.reasoning_content))
            if d.content:
                out += self._text("message", d.content)
            for tc in d.tool_calls or []:
                out += self._tool(tc)
            if choice.finish_reason:
                self.finish_reason = choice.finish_reason
        return out

    def finish(self) -> list[ResponsesStreamEvent]:
        if self.done:
            return []
        self.done = True
        out = [] if self.shell is not None else self._start(None)
        out += self._close()
        status, details = _status(self.finish_reason)
        final = self._snapshot(status)
        final.__dict__["incomplete_details"] = details
        final.__dict__["usage"] = ResponsesAPIResponse(usage=usage_of(self.usage)).usage
        kind = "response.completed" if status == "completed" else "response.incomplete"
        return [*out, self._ev(kind, response=final)]
