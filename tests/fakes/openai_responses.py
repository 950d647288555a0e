"""The fake OpenAI server's Responses API, in OpenAI's wire format: ``POST /responses``
(whole, or streamed as the typed SSE events OpenAI sends, each ``event: <type>`` +
``data: <json>`` with a ``sequence_number``), ``GET`` / ``DELETE /responses/{id}``.
Responses are kept (unless ``store`` is false) so that ``previous_response_id`` works and
an unknown one gets OpenAI's 404. Each stored response remembers how many input items the
conversation had, so tests can see the history the upstream assembled."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from aiohttp import web

__all__ = ["responses_reply"]


def _error(status: int, message: str, param: str | None = None,
           code: str | None = None) -> web.Response:
    return web.json_response({"error": {"message": message, "type": "invalid_request_error",
                                        "param": param, "code": code}}, status=status)


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def _items(value: Any) -> list[Any]:
    if isinstance(value, str):
        return [{"role": "user", "content": value}]
    return list(value) if isinstance(value, list) else []


def _output(srv: Any, body: dict[str, Any]) -> list[dict[str, Any]]:
    calls = srv._tool_calls() if body.get("tools") and body.get("tool_choice") != "none" else []
    if calls:
        return [{"type": "function_call", "id": f"fc_{uuid.uuid4().hex[:24]}",
                 "call_id": c["id"], "name": c["function"]["name"],
                 "arguments": c["function"]["arguments"], "status": "completed"}
                for c in calls]
    text = srv._content(body)
    return [{"type": "message", "id": f"msg_{uuid.uuid4().hex[:24]}", "status": "completed",
             "role": "assistant", "content": [{"type": "output_text", "text": text,
                                               "annotations": [], "logprobs": []}]}]


def _response(srv: Any, body: dict[str, Any], history: int) -> dict[str, Any]:
    usage = srv._usage()
    return {"id": f"resp_{uuid.uuid4().hex[:40]}", "object": "response",
            "created_at": int(time.time()), "status": "completed", "error": None,
            "incomplete_details": None, "instructions": body.get("instructions"),
            "max_output_tokens": body.get("max_output_tokens"), "model": body["model"],
            "output": _output(srv, body), "parallel_tool_calls": True,
            "previous_response_id": body.get("previous_response_id"),
            "reasoning": {"effort": None, "summary": None}, "store": body.get("store", True),
            "temperature": body.get("temperature", 1.0), "text": {"format": {"type": "text"}},
            "tool_choice": body.get("tool_choice", "auto"), "tools": body.get("tools") or [],
            "top_p": 1.0, "truncation": "disabled", "user": None, "metadata": {},
            "usage": {"input_tokens": usage["prompt_tokens"],
                      "input_tokens_details": {"cached_tokens": 0},
                      "output_tokens": usage["completion_tokens"],
                      "output_tokens_details": {"reasoning_tokens": 0},
                      "total_tokens": usage["total_tokens"]},
            "x_fake_history_items": history}


def _events(resp: dict[str, Any]) -> list[dict[str, Any]]:
    shell = {**resp, "status": "in_progress", "output": [], "usage": None}
    events: list[dict[str, Any]] = [{"type": "response.created", "response": shell},
                                    {"type": "response.in_progress", "response": shell}]
    for i, item in enumerate(resp["output"]):
        if item["type"] == "message":
            part = item["content"][0]
            events += [
                {"type": "response.output_item.added", "output_index": i,
                 "item": {**item, "status": "in_progress", "content": []}},
                {"type": "response.content_part.added", "item_id": item["id"],
                 "output_index": i, "content_index": 0,
                 "part": {"type": "output_text", "text": "", "annotations": []}}]
            words = part["text"].split(" ")
            pieces = [w if j == 0 else " " + w for j, w in enumerate(words)]
            events += [{"type": "response.output_text.delta", "item_id": item["id"],
                        "output_index": i, "content_index": 0, "delta": w, "logprobs": []}
                       for w in pieces]
            events += [{"type": "response.output_text.done", "item_id": item["id"],
                        "output_index": i, "content_index": 0, "text": part["text"],
                        "logprobs": []},
                       {"type": "response.content_part.done", "item_id": item["id"],
                        "output_index": i, "content_index": 0, "part": part}]
        else:
            events += [{"type": "response.output_item.added", "output_index": i,
                        "item": {**item, "arguments": "", "status": "in_progress"}},
                       {"type": "response.function_call_arguments.delta",
                        "item_id": item["id"], "output_index": i, "delta": item["arguments"]},
                       {"type": "response.function_call_arguments.done",
                        "item_id": item["id"], "output_index": i,
                        "arguments": item["arguments"]}]
        events.append({"type": "response.output_item.done", "output_index": i, "item": item})
    events.append({"type": "response.completed", "response": resp})
    for n, ev in enumerate(events):
        ev["sequence_number"] = n
    return events


async def responses_reply(srv: Any, request: web.BaseRequest, rec: Any,
                          store: dict[str, dict[str, Any]]) -> web.StreamResponse:
    """The reply to a Responses API request at ``rec.path``."""
    method = rec.method.upper()
    tail = rec.path.rstrip("/").rsplit("/responses", 1)[1]
    if tail:  # /responses/{id}
        rid = tail.lstrip("/")
        found = store.get(rid)
        if found is None:
            return _error(404, f"Response with id '{rid}' not found.", code="not_found")
        if method == "DELETE":
            del store[rid]
            return web.json_response({"id": rid, "object": "response", "deleted": True})
        return web.json_response(found["response"])
    body = rec.body
    if body is None or not body.get("model"):
        return _error(400, "Missing required parameter: 'model'.", "model")
    if "input" not in body:
        return _error(400, "Missing required parameter: 'input'.", "input")
    history = 0
    prev = body.get("previous_response_id")
    if prev:
        if prev not in store:
            return _error(400, f"Previous response with id '{prev}' not found.",
                          "previous_response_id", "previous_response_not_found")
        history = store[prev]["items"]
    resp = _response(srv, body, history + len(_items(body["input"])))
    if body.get("store", True):
        store[resp["id"]] = {"response": resp,
                             "items": history + len(_items(body["input"])) + len(resp["output"])}
    if body.get("stream") is not True:
        return web.json_response(resp)
    out = web.StreamResponse(headers={"Content-Type": "text/event-stream; charset=utf-8"})
    await out.prepare(request)
    for ev in _events(resp):
        await out.write(f"event: {ev['type']}\ndata: {_dumps(ev)}\n\n".encode())
    await out.write_eof()
    return out
