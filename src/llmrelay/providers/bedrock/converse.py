"""OpenAI-shaped chat calls -> Amazon Bedrock Converse request bodies (pure data, no I/O).

One translation serves every model family Bedrock runs through Converse (Anthropic, Meta,
Mistral, Amazon Nova, Cohere, DeepSeek, ...):

* ``system``/``developer`` messages -> ``system`` text blocks; ``tool`` messages -> user
  ``toolResult`` blocks; assistant ``tool_calls`` -> ``toolUse`` blocks; ``thinking_blocks``
  sent back -> ``reasoningContent``; consecutive messages of one role are merged (Converse
  wants user and assistant turns to alternate).
* Images and documents travel as base64 ``bytes`` (``data:`` URLs) or ``s3Location``
  (``s3://`` URIs); Bedrock never fetches an http(s) URL, so those are refused up front.
* ``cache_control`` on a message or a part (Anthropic's prompt-caching marker) becomes a
  ``cachePoint`` block right after it, which is how Converse spells the same thing.
* ``max_tokens``/``temperature``/``top_p``/``stop`` -> ``inferenceConfig``; ``tools`` and
  ``tool_choice`` -> ``toolConfig``; ``response_format`` -> a forced tool (as for Anthropic);
  ``reasoning_effort``/``thinking`` -> ``additionalModelRequestFields.thinking`` (Claude) or
  ``reasoningConfig`` (Nova); other keyword arguments (``top_k`` ...) ->
  ``additionalModelRequestFields``, except Converse's own top-level fields
  (``guardrailConfig``, ``performanceConfig``, ``requestMetadata``, ...).
"""

from __future__ import annotations

import json
from typing import Any

from ...exceptions import BadRequestError
from ..anthropic.response import JSON_TOOL
from ..anthropic.translate import EFFORT_BUDGETS
from ..base import Call

__all__ = ["CHAT_PARAMS", "build_converse", "convert_messages", "family"]

CHAT_PARAMS = frozenset({
    "temperature", "top_p", "max_tokens", "max_completion_tokens", "stop", "tools",
    "tool_choice", "response_format", "reasoning_effort", "stream_options",
})
_TOP_LEVEL = frozenset({
    "guardrailConfig", "performanceConfig", "requestMetadata", "promptVariables",
    "additionalModelResponseFieldPaths", "serviceTier", "outputConfig",
})
_MAPPED = CHAT_PARAMS | {"thinking", "additionalModelRequestFields"}
_IMAGE_FORMATS = {"image/png": "png", "image/jpeg": "jpeg", "image/jpg": "jpeg",
                  "image/gif": "gif", "image/webp": "webp"}
_DOC_FORMATS = {"application/pdf": "pdf", "text/csv": "csv", "text/html": "html",
                "text/plain": "txt", "text/markdown": "md", "application/msword": "doc",
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document":
                    "docx",
                "application/vnd.ms-excel": "xls",
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx"}
CACHE_POINT = {"cachePoint": {"type": "default"}}
Block = dict[str, Any]


def _bad(call: Call, message: str, param: str = "messages") -> BadRequestError:
    return BadRequestError(message, llm_provider=call.provider, model=call.model, param=param)


def _media(call: Call, url: str, doc_index: int) -> Block:
    """An ``image`` or ``document`` block for a base64 ``data:`` URL or an ``s3://`` URI."""
    if url.startswith("s3://"):
        ext = url.rsplit(".", 1)[-1].lower()
        if ext in ("png", "jpeg", "jpg", "gif", "webp"):
            return {"image": {"format": "jpeg" if ext == "jpg" else ext,
                              "source": {"s3Location": {"uri": url}}}}
        return {"document": {"format": ext, "name": f"document-{doc_index}",
                             "source": {"s3Location": {"uri": url}}}}
    if not url.startswith("data:"):
        raise _bad(call, "Bedrock takes images and documents as base64 data: URLs "
                         "('data:image/png;base64,...') or s3:// URIs; it does not fetch "
                         f"http(s) URLs (got {url[:40]!r})")
    head, sep, data = url.partition(",")
    meta = head[5:].split(";")
    if not sep or "base64" not in meta[1:]:
        raise _bad(call, "data: URLs sent to Bedrock must be base64 with a media type")
    media = meta[0].lower()
    if media in _IMAGE_FORMATS:
        return {"image": {"format": _IMAGE_FORMATS[media], "source": {"bytes": data}}}
    if media in _DOC_FORMATS:
        return {"document": {"format": _DOC_FORMATS[media], "name": f"document-{doc_index}",
                             "source": {"bytes": data}}}
    raise _bad(call, f"Bedrock cannot take content of type {media!r}")


def _part(call: Call, part: Any, counter: list[int]) -> list[Block]:
    """One OpenAI content part as Converse blocks (a cachePoint may follow)."""
    if isinstance(part, str):
        return [{"text": part}] if part else []
    if not isinstance(part, dict):
        raise _bad(call, f"a content part must be a dict, got {type(part).__name__}")
    kind = part.get("type")
    blocks: list[Block]
    if kind == "text":
        text = part.get("text") or ""
        blocks = [{"text": text}] if text else []
    elif kind in ("image_url", "file"):
        if kind == "image_url":
            ref = part.get("image_url")
            url = ref.get("url") if isinstance(ref, dict) else ref
        else:
            url = (part.get("file") or {}).get("file_data")
        if not isinstance(url, str):
            raise _bad(call, f"a {kind} part needs a URL or file_data")
        counter[0] += 1
        blocks = [_media(call, url, counter[0])]
    elif kind in ("input_audio", "audio"):
        raise _bad(call, "Bedrock Converse does not accept audio input")
    elif kind is None and len(part) == 1:
        blocks = [dict(part)]  # already a Converse block ({"text": ...}, {"cachePoint": ...})
    else:
        raise _bad(call, f"unsupported content part type {kind!r} for Bedrock")
    if blocks and part.get("cache_control") is not None:
        blocks.append(dict(CACHE_POINT))
    return blocks


def _parts(call: Call, content: Any, counter: list[int]) -> list[Block]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"text": content}] if content else []
    if not isinstance(content, list):
        raise _bad(call, "message content must be a string or a list of parts")
    return [b for p in content for b in _part(call, p, counter)]


def _tool_use(call: Call, tc: Any) -> Block:
    if not isinstance(tc, dict):
        dump = getattr(tc, "model_dump", None)
        tc = dump() if callable(dump) else {}
    fn = tc.get("function") or {}
    raw = fn.get("arguments")
    if not tc.get("id") or not fn.get("name"):
        raise _bad(call, "each assistant tool call needs an 'id' and a function 'name'")
    try:
        args = json.loads(raw) if isinstance(raw, str) and raw.strip() else (raw or {})
    except ValueError:
        raise _bad(call, f"the arguments of tool call {tc['id']!r} are not valid JSON") from None
    return {"toolUse": {"toolUseId": tc["id"], "name": fn["name"], "input": args}}


def _reasoning(block: Any) -> Block | None:
    if not isinstance(block, dict):
        return None
    if block.get("type") == "redacted_thinking":
        return {"reasoningContent": {"redactedContent": block.get("data")}}
    text: Block = {"text": block.get("thinking") or ""}
    if block.get("signature"):
        text["signature"] = block["signature"]
    return {"reasoningContent": {"reasoningText": text}}


def _tool_result(call: Call, m: dict[str, Any], counter: list[int]) -> Block:
    if not m.get("tool_call_id"):
        raise _bad(call, "a 'tool' message needs the 'tool_call_id' of the call it answers")
    content = m.get("content")
    parts = ([{"text": content}] if isinstance(content, str)
             else [b for b in _parts(call, content, counter) if "cachePoint" not in b])
    return {"toolResult": {"toolUseId": m["tool_call_id"], "content": parts or [{"text": ""}]}}


def _blocks(call: Call, m: dict[str, Any], i: int, counter: list[int]) -> tuple[str, list[Block]]:
    role = m.get("role")
    if role == "user":
        blocks = _parts(call, m.get("content"), counter)
    elif role == "assistant":
        blocks = [b for b in map(_reasoning, m.get("thinking_blocks") or ()) if b]
        blocks += _parts(call, m.get("content"), counter)
        blocks += [_tool_use(call, tc) for tc in m.get("tool_calls") or ()]
    elif role == "tool":
        return "user", [_tool_result(call, m, counter)]
    else:
        raise _bad(call, f"messages[{i}] has role {role!r}; Bedrock accepts system, user, "
                         "assistant and tool")
    if blocks and m.get("cache_control") is not None:
        blocks.append(dict(CACHE_POINT))
    return role, blocks


def convert_messages(call: Call, messages: list[dict[str, Any]]
                     ) -> tuple[list[Block], list[dict[str, Any]]]:
    """(``system`` blocks, ``messages``) of a Converse request."""
    system: list[Block] = []
    out: list[dict[str, Any]] = []
    counter = [0]
    for i, m in enumerate(messages):
        if m.get("role") in ("system", "developer"):
            own = [b for b in _parts(call, m.get("content"), counter) if "text" in b
                   or "cachePoint" in b]
            if own and m.get("cache_control") is not None and "cachePoint" not in own[-1]:
                own.append(dict(CACHE_POINT))
            system += own
            continue
        role, blocks = _blocks(call, m, i, counter)
        if not blocks:
            continue
        if out and out[-1]["role"] == role:
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": role, "content": blocks})
    if not out:
        raise _bad(call, "Bedrock needs at least one user or assistant message besides the "
                         "system prompt")
    return system, out


# ---- tools and parameters -------------------------------------------------------------------
def _tools(call: Call, tools: Any) -> list[Block]:
    if not isinstance(tools, list):
        raise _bad(call, "`tools` must be a list", "tools")
    out: list[Block] = []
    for tool in tools:
        fn = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(fn, dict):
            if isinstance(tool, dict) and ("toolSpec" in tool or "cachePoint" in tool):
                out.append(dict(tool))  # already Converse's shape
                continue
            raise _bad(call, "each tool must be {'type': 'function', 'function': {...}}",
                       "tools")
        if not fn.get("name"):
            raise _bad(call, "each function tool needs a name", "tools")
        spec: Block = {"name": fn["name"], "inputSchema": {
            "json": fn.get("parameters") or {"type": "object", "properties": {}}}}
        if fn.get("description"):
            spec["description"] = fn["description"]
        out.append({"toolSpec": spec})
        if tool.get("cache_control") is not None:
            out.append(dict(CACHE_POINT))
    return out


def _tool_choice(call: Call, choice: Any) -> Block | None:
    if choice in (None, "auto"):
        return {"auto": {}}
    if choice in ("required", "any"):
        return {"any": {}}
    if choice == "none":
        return None
    if isinstance(choice, dict) and choice.get("type") == "function":
        name = (choice.get("function") or {}).get("name")
        if name:
            return {"tool": {"name": name}}
    raise _bad(call, f"unsupported tool_choice {choice!r}", "tool_choice")


def _json_tool(call: Call, fmt: Any) -> Block | None:
    if not isinstance(fmt, dict) or fmt.get("type") in (None, "text"):
        return None
    if fmt["type"] == "json_object":
        schema: Any = {"type": "object"}
    elif fmt["type"] == "json_schema":
        schema = (fmt.get("json_schema") or {}).get("schema") or {"type": "object"}
    else:
        raise _bad(call, f"unsupported response_format type {fmt['type']!r}", "response_format")
    return {"toolSpec": {"name": JSON_TOOL, "description": "Give the answer as JSON.",
                         "inputSchema": {"json": schema}}}


def _has_tool_blocks(messages: list[dict[str, Any]]) -> bool:
    return any("toolUse" in b or "toolResult" in b for m in messages for b in m["content"])


def _tool_config(call: Call, messages: list[dict[str, Any]], thinking: bool) -> Block | None:
    params = call.params
    choice = params.get("tool_choice")
    tools = _tools(call, params["tools"]) if params.get("tools") else []
    if choice == "none" and not _has_tool_blocks(messages):
        tools = []
    json_tool = _json_tool(call, params.get("response_format"))
    forced: Block | None = None
    if json_tool is not None:
        if not tools and not thinking:
            forced = {"tool": {"name": JSON_TOOL}}
        tools.append(json_tool)
    if not tools:
        return None
    config: Block = {"tools": tools}
    picked = forced or _tool_choice(call, choice)
    if picked is not None and (forced or choice not in (None, "auto")):
        config["toolChoice"] = picked
    return config


def family(model: str) -> str:
    """``anthropic`` for ``us.anthropic.claude-...``, ``amazon`` for ``amazon.nova-...``."""
    parts = model.rsplit("/", 1)[-1].split(".")
    if len(parts) > 2 and parts[0] in ("us", "eu", "apac", "global", "jp", "au", "ca", "us-gov"):
        parts = parts[1:]
    return parts[0]


def _reasoning_fields(call: Call, max_tokens: int | None) -> Block:
    params = call.params
    given = params.get("thinking")
    effort = params.get("reasoning_effort")
    family_name = family(call.model)
    if given is not None:
        return {"thinking": given}
    if effort is None or effort in ("none", "disable", "disabled"):
        return {}
    if str(effort) not in EFFORT_BUDGETS:
        raise _bad(call, f"unknown reasoning_effort {effort!r}; use one of "
                         f"{', '.join(EFFORT_BUDGETS)} or 'none'", "reasoning_effort")
    if family_name == "amazon":
        level = "low" if effort in ("minimal", "low") else str(effort)
        return {"reasoningConfig": {"type": "enabled", "maxReasoningEffort": level}}
    budget = EFFORT_BUDGETS[str(effort)]
    if max_tokens is not None:
        budget = min(budget, max_tokens - 1)
    if budget < 1024:
        raise _bad(call, "reasoning_effort needs max_tokens above 1024 on Bedrock",
                   "reasoning_effort")
    return {"thinking": {"type": "enabled", "budget_tokens": budget}}


def build_converse(call: Call) -> dict[str, Any]:
    """The JSON body of ``POST /model/{modelId}/converse`` (or ``converse-stream``).

    Raises :class:`BadRequestError` for content or parameters Converse cannot express.
    """
    params = call.params
    system, messages = convert_messages(call, call.messages or [])
    body: dict[str, Any] = {"messages": messages}
    if system:
        body["system"] = system
    config: dict[str, Any] = {}
    max_tokens = params.get("max_tokens", params.get("max_completion_tokens"))
    if max_tokens is not None:
        config["maxTokens"] = int(max_tokens)
    for ours, theirs in (("temperature", "temperature"), ("top_p", "topP")):
        if params.get(ours) is not None:
            config[theirs] = params[ours]
    stop = params.get("stop")
    if stop is not None:
        config["stopSequences"] = [stop] if isinstance(stop, str) else list(stop)
    if config:
        body["inferenceConfig"] = config
    extra: dict[str, Any] = dict(params.get("additionalModelRequestFields") or {})
    extra.update(_reasoning_fields(call, config.get("maxTokens")))
    thinking = "thinking" in extra or "reasoningConfig" in extra
    budget = extra.get("thinking", {}).get("budget_tokens") if isinstance(
        extra.get("thinking"), dict) else None
    if isinstance(budget, int) and "maxTokens" not in config:
        config["maxTokens"] = budget + 4096  # Claude wants room for the answer past thinking
        body["inferenceConfig"] = config
    tool_config = _tool_config(call, messages, thinking)
    if tool_config is not None:
        body["toolConfig"] = tool_config
    for key, value in params.items():
        if key in _TOP_LEVEL:
            body[key] = value
        elif key not in _MAPPED:
            extra[key] = value  # top_k and other model-specific fields
    if extra:
        body["additionalModelRequestFields"] = extra
    if call.extra_body:
        body.update(call.extra_body)
    return body
