"""OpenAI-shaped calls -> Gemini (Google AI Studio) ``generateContent`` request bodies.

Messages become ``contents`` (roles ``user``/``model``; system and developer messages become
``systemInstruction``; assistant tool calls become ``functionCall`` parts and tool results
``functionResponse`` parts). Sampling parameters go to ``generationConfig``, tools to
``functionDeclarations`` and ``tool_choice`` to ``toolConfig``. JSON schemas are reduced to
the OpenAPI subset Gemini accepts. Everything here is pure: no I/O.
"""

from __future__ import annotations

import json
import mimetypes
from typing import Any

from ...exceptions import BadRequestError
from ..base import Call

__all__ = ["SIGNATURE_SEP", "build_body", "clean_schema", "embed_body", "to_contents"]

# A functionCall's thoughtSignature travels inside the tool call id we hand out, so that a
# client echoing the conversation back sends it to Gemini again (thinking models need it).
SIGNATURE_SEP = "__ts__"

_SCHEMA_KEYS = frozenset({
    "type", "format", "title", "description", "nullable", "enum", "maxItems", "minItems",
    "properties", "required", "minProperties", "maxProperties", "minLength", "maxLength",
    "pattern", "example", "anyOf", "propertyOrdering", "default", "items", "minimum", "maximum",
})
# Keyword arguments outside OpenAI's set that have a place in a Gemini request.
_CONFIG_EXTRAS = {"top_k": "topK", "topK": "topK", "thinking_config": "thinkingConfig",
                  "thinkingConfig": "thinkingConfig", "response_modalities": "responseModalities",
                  "responseModalities": "responseModalities"}
_BODY_EXTRAS = {"safety_settings": "safetySettings", "safetySettings": "safetySettings",
                "cached_content": "cachedContent", "cachedContent": "cachedContent"}
_TOOL_MODES = {"auto": "AUTO", "none": "NONE", "required": "ANY", "any": "ANY"}


def _bad(call: Call, message: str, param: str | None = None) -> BadRequestError:
    return BadRequestError(message, llm_provider=call.provider, model=call.model, param=param)


# ---- schemas ---------------------------------------------------------------------------------
def clean_schema(schema: Any, defs: dict[str, Any] | None = None, depth: int = 0) -> Any:
    """A JSON schema reduced to Gemini's OpenAPI subset: local ``$ref``s inlined, type lists
    turned into ``nullable``/``anyOf``, unsupported keywords (``additionalProperties``,
    ``$schema`` ...) dropped."""
    if not isinstance(schema, dict) or depth > 32:
        return schema
    if defs is None:
        defs = {**schema.get("definitions", {}), **schema.get("$defs", {})}
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.rsplit("/", 1)[-1] in defs:
        merged = {**defs[ref.rsplit("/", 1)[-1]], **{k: v for k, v in schema.items()
                                                     if k != "$ref"}}
        return clean_schema(merged, defs, depth + 1)
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key not in _SCHEMA_KEYS:
            continue
        if key == "properties" and isinstance(value, dict):
            out[key] = {name: clean_schema(sub, defs, depth + 1) for name, sub in value.items()}
        elif key == "items":
            out[key] = clean_schema(value, defs, depth + 1)
        elif key == "anyOf" and isinstance(value, list):
            out[key] = [clean_schema(sub, defs, depth + 1) for sub in value]
        else:
            out[key] = value
    kind = out.get("type")
    if isinstance(kind, list):
        real = [k for k in kind if k != "null"]
        if len(kind) != len(real):
            out["nullable"] = True
        del out["type"]
        if len(real) == 1:
            out["type"] = real[0]
        elif real:
            out["anyOf"] = [{"type": k} for k in real]
    if "const" in schema and "enum" not in out:
        out["enum"] = [schema["const"]]
    return out


# ---- content parts ---------------------------------------------------------------------------
def _media_part(url: str, default_mime: str) -> dict[str, Any]:
    if url.startswith("data:"):
        head, _, data = url.partition(",")
        mime = head[5:].split(";", 1)[0] or default_mime
        return {"inlineData": {"mimeType": mime, "data": data}}
    mime = mimetypes.guess_type(url.split("?", 1)[0])[0] or default_mime
    return {"fileData": {"mimeType": mime, "fileUri": url}}


def _part(call: Call, part: Any, where: str) -> dict[str, Any] | None:
    if isinstance(part, str):
        return {"text": part} if part else None
    kind = part.get("type") if isinstance(part, dict) else None
    if kind == "text":
        text = part.get("text") or ""
        return {"text": text} if text else None
    if kind == "image_url":
        image = part.get("image_url")
        url = image.get("url") if isinstance(image, dict) else image
        if isinstance(url, str) and url:
            return _media_part(url, "image/jpeg")
    elif kind == "input_audio":
        audio = part.get("input_audio") or {}
        if audio.get("data"):
            fmt = audio.get("format") or "wav"
            return {"inlineData": {"mimeType": f"audio/{fmt}", "data": audio["data"]}}
    elif kind == "file":
        file = part.get("file") or {}
        url = file.get("file_data") or file.get("file_id")
        if isinstance(url, str) and url:
            return _media_part(url, file.get("format") or "application/pdf")
    raise _bad(call, f"{where}: unsupported content part for gemini: {str(part)[:120]}",
               "messages")


def _parts(call: Call, content: Any, where: str) -> list[dict[str, Any]]:
    if content is None:
        return []
    items = [content] if isinstance(content, str) else content
    return [p for i, item in enumerate(items)
            if (p := _part(call, item, f"{where}.content[{i}]")) is not None]


def _call_parts(call: Call, message: dict[str, Any], where: str,
                names: dict[str, str]) -> list[dict[str, Any]]:
    parts = []
    for j, tc in enumerate(message.get("tool_calls") or []):
        fn = tc.get("function") or {}
        name = fn.get("name")
        raw = fn.get("arguments") or "{}"
        try:
            args = json.loads(raw) if isinstance(raw, str) else raw
        except ValueError:
            raise _bad(call, f"{where}.tool_calls[{j}].function.arguments is not valid JSON",
                       "messages") from None
        part: dict[str, Any] = {"functionCall": {"name": name, "args": args}}
        call_id = str(tc.get("id") or "")
        if SIGNATURE_SEP in call_id:
            part["thoughtSignature"] = call_id.split(SIGNATURE_SEP, 1)[1]
        names[call_id] = str(name)
        parts.append(part)
    return parts


def _response_part(call: Call, message: dict[str, Any], where: str,
                   names: dict[str, str]) -> dict[str, Any]:
    name = message.get("name") or names.get(str(message.get("tool_call_id") or ""))
    if not name:
        raise _bad(call, f"{where}: tool message whose tool_call_id matches no earlier "
                   "assistant tool call (gemini needs the function name)", "messages")
    content = message.get("content")
    if isinstance(content, list):
        content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
    result: Any = content
    if isinstance(content, str):
        try:
            result = json.loads(content)
        except ValueError:
            result = content
    if not isinstance(result, dict):
        result = {"content": result}
    return {"functionResponse": {"name": name, "response": result}}


def to_contents(call: Call, messages: list[dict[str, Any]]
                ) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """``(systemInstruction or None, contents)``; consecutive turns of one role are merged."""
    system: list[dict[str, Any]] = []
    contents: list[dict[str, Any]] = []
    names: dict[str, str] = {}
    for i, m in enumerate(messages):
        role, where = m.get("role"), f"messages[{i}]"
        if role in ("system", "developer"):
            system.extend(_parts(call, m.get("content"), where))
            continue
        if role == "user":
            turn, parts = "user", _parts(call, m.get("content"), where)
        elif role == "assistant":
            turn = "model"
            parts = _parts(call, m.get("content"), where) + _call_parts(call, m, where, names)
        elif role in ("tool", "function"):
            turn, parts = "user", [_response_part(call, m, where, names)]
        else:
            raise _bad(call, f"{where}: unknown role {role!r}", "messages")
        if not parts:
            continue
        if contents and contents[-1]["role"] == turn:
            contents[-1]["parts"].extend(parts)
        else:
            contents.append({"role": turn, "parts": parts})
    if not contents:
        raise _bad(call, "gemini needs at least one user or assistant message with content",
                   "messages")
    return ({"parts": system} if system else None), contents


# ---- parameters ------------------------------------------------------------------------------
def _tools(call: Call, tools: Any) -> list[dict[str, Any]]:
    declarations: list[dict[str, Any]] = []
    native: list[dict[str, Any]] = []
    for i, tool in enumerate(tools or []):
        if not isinstance(tool, dict):
            raise _bad(call, f"tools[{i}] must be a dict", "tools")
        if tool.get("type") != "function":
            native.append(tool)  # a Gemini tool as-is, e.g. {"googleSearch": {}}
            continue
        fn = tool.get("function") or {}
        decl: dict[str, Any] = {"name": fn.get("name")}
        if fn.get("description"):
            decl["description"] = fn["description"]
        params = fn.get("parameters")
        if isinstance(params, dict) and (params.get("properties") or params.get("type")
                                         not in (None, "object")):
            decl["parameters"] = clean_schema(params)
        declarations.append(decl)
    out = [{"functionDeclarations": declarations}] if declarations else []
    return out + native


def _tool_config(call: Call, choice: Any) -> dict[str, Any]:
    if isinstance(choice, str) and choice in _TOOL_MODES:
        return {"functionCallingConfig": {"mode": _TOOL_MODES[choice]}}
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name")
        if name:
            return {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": [name]}}
    raise _bad(call, f"unsupported tool_choice for gemini: {choice!r}", "tool_choice")


def _response_format(call: Call, fmt: Any, config: dict[str, Any]) -> None:
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind == "text":
        return
    if kind == "json_object":
        config["responseMimeType"] = "application/json"
        return
    if kind == "json_schema":
        schema = (fmt.get("json_schema") or {}).get("schema")
        config["responseMimeType"] = "application/json"
        if isinstance(schema, dict):
            config["responseSchema"] = clean_schema(schema)
        return
    raise _bad(call, f"unsupported response_format for gemini: {fmt!r}", "response_format")


_DIRECT = {"temperature": "temperature", "top_p": "topP", "n": "candidateCount",
           "seed": "seed", "presence_penalty": "presencePenalty",
           "frequency_penalty": "frequencyPenalty"}


def _generation_config(call: Call, params: dict[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = {}
    for ours, theirs in _DIRECT.items():
        if ours in params:
            config[theirs] = params[ours]
    limit = params.get("max_completion_tokens", params.get("max_tokens"))
    if limit is not None:
        config["maxOutputTokens"] = limit
    stop = params.get("stop")
    if stop:
        config["stopSequences"] = [stop] if isinstance(stop, str) else list(stop)
    if "response_format" in params:
        _response_format(call, params["response_format"], config)
    return config


_HANDLED = frozenset(_DIRECT) | {"max_tokens", "max_completion_tokens", "stop",
                                 "response_format", "tools", "tool_choice", "stream_options"}


def build_body(call: Call) -> dict[str, Any]:
    """The ``generateContent``/``streamGenerateContent`` body for a chat call."""
    system, contents = to_contents(call, call.messages or [])
    body: dict[str, Any] = {"contents": contents}
    if system is not None:
        body["systemInstruction"] = system
    params = call.params
    tools = _tools(call, params.get("tools"))
    if tools:
        body["tools"] = tools
    if params.get("tool_choice") is not None and tools:
        body["toolConfig"] = _tool_config(call, params["tool_choice"])
    config = _generation_config(call, params)
    for key, value in params.items():  # keywords outside OpenAI's set
        if key in _HANDLED:
            continue
        if key in _CONFIG_EXTRAS:
            config[_CONFIG_EXTRAS[key]] = value
        else:
            body[_BODY_EXTRAS.get(key, key)] = value
    if config:
        body["generationConfig"] = {**body.get("generationConfig", {}), **config}
    if call.extra_body:
        body.update(call.extra_body)
    return body


def embed_body(call: Call, model_path: str) -> dict[str, Any]:
    """The ``batchEmbedContents`` body: one request per input string."""
    items = call.input if isinstance(call.input, list) else [call.input]
    extra: dict[str, Any] = {}
    for key, value in call.params.items():
        if key == "dimensions":
            extra["outputDimensionality"] = value
        elif key in ("task_type", "taskType"):
            extra["taskType"] = value
        elif key == "title":
            extra["title"] = value
    requests = []
    for i, item in enumerate(items):
        if not isinstance(item, str):
            raise _bad(call, f"input[{i}]: gemini embeds strings only, got "
                       f"{type(item).__name__}", "input")
        requests.append({"model": model_path, "content": {"parts": [{"text": item}]}, **extra})
    body: dict[str, Any] = {"requests": requests}
    if call.extra_body:
        body.update(call.extra_body)
    return body
