"""Cohere v2 chat (``POST /v2/chat``): OpenAI-shaped calls in, OpenAI-shaped replies out.

Cohere v2's messages and tools are close to OpenAI's: roles ``system``/``user``/
``assistant``/``tool``, ``tool_calls`` with JSON-string arguments, function tools. So the
translation mostly renames parameters (``stop`` -> ``stop_sequences``, ``top_p`` -> ``p``,
``tool_choice`` ``required``/``none`` -> ``REQUIRED``/``NONE``, ``response_format`` ->
``{"type": "json_object", "json_schema": ...}``, ``reasoning_effort`` -> ``thinking``) and
strips message fields Cohere refuses. Cohere's own fields (``documents``,
``citation_options``, ``safety_mode``, ``k``, ``thinking`` ...) pass through.

Replies: text content joined; ``thinking`` content -> ``reasoning_content``; ``tool_plan``
is kept as ``message.tool_plan``; citations (spans of the answer grounded in documents or
tool results) become ``message.annotations`` (OpenAI's ``url_citation`` shape: start/end
index, and the source's ``url``/``title`` when it has them) and the raw list stays in
``message.citations``.
"""

from __future__ import annotations

import json
from typing import Any

from ...exceptions import APIConnectionError, BadRequestError, LLMRelayError
from ...types import ModelResponse, Usage
from ..base import Call, body_excerpt, decode_json, error_from_reply

__all__ = ["CHAT_PARAMS", "build_chat", "citation_annotations", "cohere_error", "finish_reason",
           "parse_chat", "usage_from"]

CHAT_PARAMS = frozenset({
    "temperature", "top_p", "max_tokens", "max_completion_tokens", "stop", "seed",
    "frequency_penalty", "presence_penalty", "tools", "tool_choice", "response_format",
    "reasoning_effort", "logprobs", "stream_options",
})
_FINISH = {"COMPLETE": "stop", "STOP_SEQUENCE": "stop", "MAX_TOKENS": "length",
           "TOOL_CALL": "tool_calls", "ERROR": "stop", "TIMEOUT": "length"}
_MAPPED = CHAT_PARAMS
_MESSAGE_KEYS = {"system": ("role", "content"), "user": ("role", "content"),
                 "assistant": ("role", "content", "tool_calls", "tool_plan", "citations"),
                 "tool": ("role", "content", "tool_call_id")}


def _bad(call: Call, message: str, param: str = "messages") -> BadRequestError:
    return BadRequestError(message, llm_provider=call.provider, model=call.model, param=param)


def _content(call: Call, content: Any) -> Any:
    if content is None or isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise _bad(call, "message content must be a string or a list of parts")
    parts = []
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            parts.append({"type": "text", "text": part.get("text") or ""})
        elif kind in ("image_url", "document"):
            parts.append({k: v for k, v in part.items() if k != "cache_control"})
        else:
            raise _bad(call, f"Cohere cannot take content parts of type {kind!r}")
    return parts


def convert_messages(call: Call, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for i, m in enumerate(messages):
        role = "system" if m.get("role") == "developer" else m.get("role")
        keys = _MESSAGE_KEYS.get(str(role))
        if keys is None:
            raise _bad(call, f"messages[{i}] has role {role!r}; Cohere accepts system, user, "
                             "assistant and tool")
        msg = {k: m[k] for k in keys if m.get(k) is not None}
        msg["role"] = role
        if "content" in msg:
            msg["content"] = _content(call, msg["content"])
        if role == "assistant" and msg.get("tool_calls"):
            msg["tool_calls"] = [tc if isinstance(tc, dict) else tc.model_dump()
                                 for tc in msg["tool_calls"]]
        if role == "tool" and not msg.get("tool_call_id"):
            raise _bad(call, "a 'tool' message needs the 'tool_call_id' of the call it answers")
        out.append(msg)
    return out


def _tool_choice(call: Call, choice: Any) -> str | None:
    if choice in (None, "auto"):
        return None
    if choice in ("required", "any"):
        return "REQUIRED"
    if choice == "none":
        return "NONE"
    raise _bad(call, f"Cohere's tool_choice is 'auto', 'required' or 'none', not {choice!r}",
               "tool_choice")


def _response_format(call: Call, fmt: Any) -> dict[str, Any] | None:
    if not isinstance(fmt, dict) or fmt.get("type") in (None, "text"):
        return None
    if fmt["type"] == "json_object":
        return {"type": "json_object"}
    if fmt["type"] == "json_schema":
        schema = (fmt.get("json_schema") or {}).get("schema")
        return {"type": "json_object", **({"json_schema": schema} if schema else {})}
    raise _bad(call, f"unsupported response_format type {fmt['type']!r}", "response_format")


def build_chat(call: Call) -> dict[str, Any]:
    """The JSON body of ``POST /v2/chat``; BadRequestError for what Cohere cannot express."""
    p = call.params
    body: dict[str, Any] = {"model": call.model,
                            "messages": convert_messages(call, call.messages or [])}
    max_tokens = p.get("max_tokens", p.get("max_completion_tokens"))
    if max_tokens is not None:
        body["max_tokens"] = int(max_tokens)
    for ours, theirs in (("temperature", "temperature"), ("top_p", "p"), ("seed", "seed"),
                         ("frequency_penalty", "frequency_penalty"),
                         ("presence_penalty", "presence_penalty"), ("tools", "tools"),
                         ("logprobs", "logprobs")):
        if p.get(ours) is not None:
            body[theirs] = p[ours]
    if p.get("stop") is not None:
        body["stop_sequences"] = [p["stop"]] if isinstance(p["stop"], str) else list(p["stop"])
    choice = _tool_choice(call, p.get("tool_choice"))
    if choice is not None:
        body["tool_choice"] = choice
    fmt = _response_format(call, p.get("response_format"))
    if fmt is not None:
        body["response_format"] = fmt
    effort = p.get("reasoning_effort")
    if effort is not None and "thinking" not in p:
        body["thinking"] = ({"type": "disabled"} if effort in ("none", "disable", "disabled")
                            else {"type": "enabled"})
    for key, value in p.items():
        if key not in _MAPPED:
            body[key] = value  # documents, citation_options, safety_mode, k, thinking ...
    if call.stream:
        body["stream"] = True
    if call.extra_body:
        body.update(call.extra_body)
    return body


# ---- replies --------------------------------------------------------------------------------
def finish_reason(reason: Any) -> str:
    return _FINISH.get(str(reason), "stop") if reason else "stop"


def usage_from(raw: Any) -> Usage:
    raw = raw if isinstance(raw, dict) else {}
    tokens = raw.get("tokens") or raw.get("billed_units") or {}
    billed = raw.get("billed_units") or {}
    prompt = int(tokens.get("input_tokens") or billed.get("input_tokens") or 0)
    completion = int(tokens.get("output_tokens") or billed.get("output_tokens") or 0)
    return Usage(prompt_tokens=prompt, completion_tokens=completion)


def citation_annotations(citations: Any) -> list[dict[str, Any]]:
    """Cohere citations as OpenAI ``url_citation`` annotations (index span + source)."""
    out = []
    for cite in citations or ():
        if not isinstance(cite, dict):
            continue
        source = next((s for s in cite.get("sources") or () if isinstance(s, dict)), {})
        doc = source.get("document") or source.get("tool_output") or {}
        out.append({"type": "url_citation", "url_citation": {
            "start_index": cite.get("start"), "end_index": cite.get("end"),
            "url": str(doc.get("url") or ""),
            "title": str(doc.get("title") or source.get("id") or cite.get("text") or "")}})
    return out


def parse_chat(call: Call, status: int, headers: dict[str, str], body: bytes) -> ModelResponse:
    data = decode_json(call, status, headers, body)
    msg = data.get("message") if isinstance(data, dict) else None
    if not isinstance(msg, dict):
        raise APIConnectionError(f"upstream reply is not a Cohere chat response: "
                                 f"{body_excerpt(body)}", status_code=status,
                                 llm_provider=call.provider, model=call.model,
                                 response_body=body_excerpt(body))
    texts, thoughts = [], []
    for part in msg.get("content") or ():
        if isinstance(part, dict) and part.get("type") == "text":
            texts.append(str(part.get("text") or ""))
        elif isinstance(part, dict) and part.get("type") == "thinking":
            thoughts.append(str(part.get("thinking") or ""))
    calls = [{"id": tc.get("id"), "type": "function",
              "function": {"name": (tc.get("function") or {}).get("name"),
                           "arguments": (tc.get("function") or {}).get("arguments") or "{}"}}
             for tc in msg.get("tool_calls") or () if isinstance(tc, dict)]
    message: dict[str, Any] = {"role": "assistant",
                               "content": "".join(texts) if texts or not calls else None,
                               "tool_calls": calls or None}
    if thoughts:
        message["reasoning_content"] = "".join(thoughts)
    if msg.get("tool_plan"):
        message["tool_plan"] = msg["tool_plan"]
    if msg.get("citations"):
        message["annotations"] = citation_annotations(msg["citations"])
        message["citations"] = msg["citations"]
    return ModelResponse(id=data.get("id"), model=call.model, usage=usage_from(data.get("usage")),
                         choices=[{"index": 0, "message": message,
                                   "finish_reason": finish_reason(data.get("finish_reason"))}])


def cohere_error(call: Call, status: int, headers: dict[str, str], body: bytes) -> LLMRelayError:
    """Cohere's errors are ``{"id": ..., "message": ...}``; too many tokens is a 400/422."""
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    message = data.get("message") if isinstance(data, dict) else None
    if not message:
        message = f"HTTP {status} from Cohere: {body_excerpt(body)}"
    return error_from_reply(call, status, headers, body, str(message))
