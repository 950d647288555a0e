"""A Responses API request as a chat completions request (for wires without the
Responses API).

=============================  ===========================================================
``instructions``               a first ``system`` message (this turn only, as OpenAI does)
earlier turns                  ``call.state``: the input and output items the
                               ``previous_response_id`` stands for (resolved by the
                               Responses layer), converted like the input
``input`` text                 a user message
message items                  messages (``developer`` -> ``system``); ``input_text`` /
                               ``output_text`` parts -> text, ``input_image`` ->
                               ``image_url``, ``input_file`` (``file_data``) -> ``file``
``function_call`` items        an assistant message's ``tool_calls`` (consecutive calls
                               join the assistant message before them)
``function_call_output``       a ``tool`` message
``reasoning`` items            dropped (summaries of another vendor's reasoning)
``max_output_tokens``          ``max_tokens``; ``temperature``, ``top_p``, ``user``,
                               ``parallel_tool_calls`` as they are
``tools``                      function tools (``{type, name, parameters}`` ->
                               ``{type, function: {...}}``); hosted tools (web search,
                               file search, code interpreter, computer use, MCP, image
                               generation) are refused: only OpenAI runs them
``tool_choice``                as chat's (a named function -> ``{type, function: {name}}``)
``text.format``                ``response_format`` (``json_schema`` / ``json_object``)
``reasoning.effort``           ``reasoning_effort`` for models the price table marks as
                               reasoning models
``background``, ``conversation``, ``prompt``: refused (they need OpenAI's servers);
``store``, ``include``, ``truncation``, ``service_tier``, ``text.verbosity`` ...: not sent
=============================  ===========================================================
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from ...exceptions import BadRequestError
from ...types.responses_api import input_items
from ..base import Call

__all__ = ["chat_turns", "to_chat_call"]

_REFUSED = ("background", "conversation", "prompt")
_KEPT = {"max_output_tokens": "max_tokens", "temperature": "temperature", "top_p": "top_p",
         "user": "user", "parallel_tool_calls": "parallel_tool_calls"}


def _bad(call: Call, message: str, param: str) -> BadRequestError:
    return BadRequestError(message, llm_provider=call.provider, model=call.model, param=param)


def _part(call: Call, part: Any) -> dict[str, Any] | None:
    if isinstance(part, str):
        return {"type": "text", "text": part}
    kind = part.get("type") if isinstance(part, dict) else None
    if kind in ("input_text", "output_text", "text", "summary_text"):
        return {"type": "text", "text": str(part.get("text") or "")}
    if kind == "refusal":
        return {"type": "text", "text": str(part.get("refusal") or "")}
    if kind == "input_image":
        url = part.get("image_url")
        if not url:
            raise _bad(call, "input_image by file_id needs OpenAI's file store; send "
                       "image_url (a URL or a data: URL)", "input")
        image: dict[str, Any] = {"url": url}
        if part.get("detail"):
            image["detail"] = part["detail"]
        return {"type": "image_url", "image_url": image}
    if kind == "input_file":
        if part.get("file_data"):
            return {"type": "file", "file": {"file_data": part["file_data"],
                                             "filename": part.get("filename") or "file"}}
        raise _bad(call, "input_file by file_id or URL needs OpenAI's file store; send "
                   "file_data", "input")
    return None


def _content(call: Call, content: Any) -> Any:
    if isinstance(content, str) or content is None:
        return content
    parts = [p for p in (_part(call, c) for c in content) if p is not None]
    if all(p["type"] == "text" for p in parts):
        return "".join(p["text"] for p in parts)
    return parts


def chat_turns(call: Call, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Responses items as chat messages."""
    out: list[dict[str, Any]] = []
    for item in items:
        kind = item.get("type") or "message"
        if kind == "message":
            role = item.get("role") or "user"
            out.append({"role": "system" if role == "developer" else role,
                        "content": _content(call, item.get("content"))})
        elif kind == "function_call":
            tc = {"id": item.get("call_id") or item.get("id"), "type": "function",
                  "function": {"name": item.get("name"),
                               "arguments": item.get("arguments") or "{}"}}
            last = out[-1] if out else None
            if last is not None and last["role"] == "assistant":
                last.setdefault("tool_calls", []).append(tc)
            else:
                out.append({"role": "assistant", "content": None, "tool_calls": [tc]})
        elif kind == "function_call_output":
            output = item.get("output")
            out.append({"role": "tool", "tool_call_id": item.get("call_id"),
                        "content": output if isinstance(output, str)
                        else _content(call, output) or json.dumps(output)})
        elif kind == "reasoning":
            continue
        else:
            raise _bad(call, f"input items of type {kind!r} need OpenAI's servers; "
                       f"{call.provider} cannot take them", "input")
    return out


def _tools(call: Call, tools: Any) -> list[dict[str, Any]]:
    out = []
    for tool in tools or []:
        kind = tool.get("type") if isinstance(tool, dict) else None
        if kind != "function":
            raise _bad(call, f"the {kind!r} tool runs on OpenAI's servers; {call.provider} "
                       f"cannot run it", "tools")
        fn = {k: tool[k] for k in ("name", "description", "parameters", "strict")
              if tool.get(k) is not None}
        out.append({"type": "function", "function": fn})
    return out


def _tool_choice(choice: Any) -> Any:
    if isinstance(choice, dict) and choice.get("type") == "function":
        return {"type": "function", "function": {"name": choice.get("name")}}
    if isinstance(choice, dict) and choice.get("type") == "allowed_tools":
        return choice.get("mode") or "auto"
    return choice


def _response_format(text: Any) -> dict[str, Any] | None:
    fmt = text.get("format") if isinstance(text, dict) else None
    if not isinstance(fmt, dict):
        return None
    if fmt.get("type") == "json_schema":
        spec = {k: fmt[k] for k in ("name", "schema", "strict", "description")
                if fmt.get(k) is not None}
        spec.setdefault("name", "output")
        return {"type": "json_schema", "json_schema": spec}
    if fmt.get("type") == "json_object":
        return {"type": "json_object"}
    return None


def _reasoning_model(call: Call) -> bool:
    from ...cost import lookup

    row = lookup(call.model, call.provider)
    return bool(row and row.get("supports_reasoning"))


def to_chat_call(call: Call) -> Call:
    """The chat call answering ``call`` (a ``responses`` call; ``call.state``: the items of
    the earlier turns)."""
    p = call.params
    for name in _REFUSED:
        if p.get(name):
            raise _bad(call, f"`{name}` needs OpenAI's servers; {call.provider} cannot "
                       f"serve it", name)
    params = {chat: p[ours] for ours, chat in _KEPT.items() if p.get(ours) is not None}
    if p.get("tools"):
        params["tools"] = _tools(call, p["tools"])
        if p.get("tool_choice") is not None:
            params["tool_choice"] = _tool_choice(p["tool_choice"])
    fmt = _response_format(p.get("text"))
    if fmt is not None:
        params["response_format"] = fmt
    effort = (p.get("reasoning") or {}).get("effort") if isinstance(p.get("reasoning"),
                                                                     dict) else None
    if effort and effort != "none" and _reasoning_model(call):
        params["reasoning_effort"] = effort
    if call.stream:
        params["stream_options"] = {"include_usage": True}
    messages: list[dict[str, Any]] = []
    if p.get("instructions"):
        messages.append({"role": "system", "content": str(p["instructions"])})
    messages += chat_turns(call, [*(call.state or []), *input_items(call.input)])
    return dataclasses.replace(call, call_type="completion", messages=messages, input=None,
                               params=params, state=None)
