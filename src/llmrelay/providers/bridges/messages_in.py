"""An Anthropic Messages request as a chat completions request (for wires without the
Messages API).

==========================  ==============================================================
``system`` (text or blocks) a first ``system`` message
``system`` role messages    ``system`` messages in place (Claude Code's mid-conversation
                            system beta)
user ``text`` / ``image``   content parts (``image_url``, base64 sources as ``data:`` URLs;
 / ``document`` blocks      PDFs as ``file`` parts)
user ``tool_result``        a ``tool`` message per result, before the user's other parts
assistant ``tool_use``      ``tool_calls`` (``input`` as JSON ``arguments``)
assistant ``thinking``      dropped (other vendors cannot check Anthropic's signatures)
``max_tokens``              ``max_tokens``; ``stop_sequences`` -> ``stop``
``tools``                   function tools (``input_schema`` -> ``parameters``); Anthropic's
                            server tools (web search, code execution ...) are refused
``tool_choice``             ``auto``/``any``/``tool``/``none`` -> ``auto``/``required``/
                            named function/``none``; ``disable_parallel_tool_use`` ->
                            ``parallel_tool_calls: false``
``thinking``                ``reasoning_effort`` by budget, for models the price table marks
                            as reasoning models; otherwise dropped
``output_config.format``     ``response_format`` (``json_schema``: structured output)
everything else             dropped (``top_k``, ``cache_control``, ``service_tier``,
                            ``speed``, ``context_management`` ...: Anthropic's own)
``container``, ``mcp_servers``: refused (they need Anthropic's servers)
==========================  ==============================================================
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from ...exceptions import BadRequestError
from ..base import Call

__all__ = ["chat_messages", "to_chat_call"]

_REFUSED = ("container", "mcp_servers")
_KEPT = ("max_tokens", "temperature", "top_p")  # the same name and meaning in chat


def _response_format(config: Any) -> dict[str, Any] | None:
    """Structured output (``output_config.format`` of type ``json_schema``) as chat's
    ``response_format``."""
    fmt = config.get("format") if isinstance(config, dict) else None
    if not isinstance(fmt, dict) or fmt.get("type") != "json_schema":
        return None
    return {"type": "json_schema", "json_schema": {
        "name": "output", "schema": fmt.get("schema") or {"type": "object"}, "strict": True}}


def _bad(call: Call, message: str, param: str) -> BadRequestError:
    return BadRequestError(message, llm_provider=call.provider, model=call.model, param=param)


def _text(content: Any) -> str:
    """The text of a string or of text blocks (other blocks are left out)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(b.get("text") or "") for b in content
                       if isinstance(b, dict) and b.get("type", "text") == "text")
    return ""


def _source_url(source: Any) -> str | None:
    if not isinstance(source, dict):
        return None
    if source.get("type") == "url":
        return str(source.get("url") or "")
    if source.get("type") == "base64":
        return f"data:{source.get('media_type') or 'application/octet-stream'};base64," \
               f"{source.get('data') or ''}"
    return None


def _part(block: Any) -> dict[str, Any] | None:
    if isinstance(block, str):
        return {"type": "text", "text": block}
    if not isinstance(block, dict):
        return None
    kind = block.get("type")
    if kind == "text":
        return {"type": "text", "text": str(block.get("text") or "")}
    if kind == "image":
        url = _source_url(block.get("source"))
        return {"type": "image_url", "image_url": {"url": url}} if url else None
    if kind == "document":
        source = block.get("source") or {}
        if source.get("type") == "text":
            return {"type": "text", "text": str(source.get("data") or "")}
        url = _source_url(source)
        if url and url.startswith("data:"):
            return {"type": "file", "file": {"file_data": url,
                                             "filename": block.get("title") or "document.pdf"}}
        return {"type": "text", "text": url} if url else None
    return None  # thinking, redacted_thinking, server tool blocks: nothing chat can carry


def _user(message: dict[str, Any]) -> list[dict[str, Any]]:
    content = message.get("content")
    if isinstance(content, str):
        return [{"role": "user", "content": content}]
    out: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    for block in content or []:
        if isinstance(block, dict) and block.get("type") == "tool_result":
            text = _text(block.get("content"))
            if block.get("is_error"):
                text = f"Error: {text}"
            out.append({"role": "tool", "tool_call_id": block.get("tool_use_id"),
                        "content": text})
            inner = block.get("content")
            if isinstance(inner, list):  # a tool's images travel with the next user turn
                parts += [p for p in map(_part, inner) if p and p["type"] == "image_url"]
            continue
        part = _part(block)
        if part is not None:
            parts.append(part)
    if parts:
        only_text = all(p["type"] == "text" for p in parts)
        out.append({"role": "user", "content": "".join(p["text"] for p in parts)
                    if only_text else parts})
    return out


def _assistant(message: dict[str, Any]) -> list[dict[str, Any]]:
    content = message.get("content")
    if isinstance(content, str):
        return [{"role": "assistant", "content": content}]
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for block in content or []:
        if not isinstance(block, dict):
            continue
        if block.get("type") == "text":
            texts.append(str(block.get("text") or ""))
        elif block.get("type") == "tool_use":
            calls.append({"id": block.get("id"), "type": "function", "function": {
                "name": block.get("name"),
                "arguments": json.dumps(block.get("input") or {}, ensure_ascii=False)}})
    out: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts else None}
    if calls:
        out["tool_calls"] = calls
    return [out]


def chat_messages(system: Any, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Anthropic's ``system`` and ``messages`` as chat messages."""
    out: list[dict[str, Any]] = []
    text = _text(system) if system is not None else ""
    if text:
        out.append({"role": "system", "content": text})
    for m in messages:
        role = m.get("role")
        if role == "system":  # mid-conversation system text (a beta Claude Code uses)
            text = _text(m.get("content"))
            out += [{"role": "system", "content": text}] if text else []
        else:
            out += _assistant(m) if role == "assistant" else _user(m)
    return out


def _tools(call: Call, tools: Any) -> list[dict[str, Any]]:
    out = []
    for tool in tools or []:
        kind = tool.get("type") if isinstance(tool, dict) else None
        if not isinstance(tool, dict) or kind not in (None, "custom"):
            raise _bad(call, f"the tool type {kind!r} runs on Anthropic's servers; "
                       f"{call.provider} cannot run it", "tools")
        fn: dict[str, Any] = {"name": tool.get("name"),
                              "parameters": tool.get("input_schema") or {"type": "object"}}
        if tool.get("description"):
            fn["description"] = tool["description"]
        out.append({"type": "function", "function": fn})
    return out


def _tool_choice(choice: dict[str, Any], params: dict[str, Any]) -> None:
    kind = choice.get("type")
    if kind == "tool":
        params["tool_choice"] = {"type": "function", "function": {"name": choice.get("name")}}
    elif kind in ("auto", "any", "none"):
        params["tool_choice"] = {"auto": "auto", "any": "required", "none": "none"}[kind]
    if choice.get("disable_parallel_tool_use"):
        params["parallel_tool_calls"] = False


def _effort(thinking: Any) -> str | None:
    if not isinstance(thinking, dict) or thinking.get("type") not in ("enabled", "adaptive"):
        return None
    budget = thinking.get("budget_tokens")
    budget = budget if isinstance(budget, int) else 8192
    return "low" if budget < 4096 else "medium" if budget < 16384 else "high"


def _reasoning_model(call: Call) -> bool:
    from ...cost import lookup

    row = lookup(call.model, call.provider)
    return bool(row and row.get("supports_reasoning"))


def to_chat_call(call: Call) -> Call:
    """The chat call answering ``call`` (an ``anthropic_messages`` call)."""
    p = call.params
    for name in _REFUSED:
        if p.get(name):
            raise _bad(call, f"`{name}` needs Anthropic's servers; {call.provider} cannot "
                       f"serve it", name)
    params: dict[str, Any] = {k: p[k] for k in _KEPT if p.get(k) is not None}
    fmt = _response_format(p.get("output_config") or {}) or _response_format(
        {"format": p.get("output_format")})
    if fmt is not None:
        params["response_format"] = fmt
    if p.get("stop_sequences"):
        params["stop"] = list(p["stop_sequences"])
    if p.get("tools"):
        params["tools"] = _tools(call, p["tools"])
    if isinstance(p.get("tool_choice"), dict) and p.get("tools"):
        _tool_choice(p["tool_choice"], params)
    effort = _effort(p.get("thinking"))
    if effort is not None and _reasoning_model(call):
        params["reasoning_effort"] = effort
    if call.stream:
        params["stream_options"] = {"include_usage": True}
    headers = {k: v for k, v in (call.extra_headers or {}).items()
               if not k.lower().startswith("anthropic-")} or None
    return dataclasses.replace(call, call_type="completion", params=params, input=None,
                               messages=chat_messages(p.get("system"), call.messages or []),
                               extra_headers=headers, state=None)
