"""The OpenTelemetry GenAI semantic conventions as plain data: span/metric attributes and
the opt-in message content, built from a call's callback ``kwargs`` and response.

Pure functions with no OpenTelemetry import, used by :mod:`llmrelay.integrations.otel`.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

__all__ = ["DURATION_BUCKETS", "TOKEN_BUCKETS", "input_messages", "operation_name",
           "output_messages", "provider_name", "request_attributes", "response_attributes"]

# Histogram bucket boundaries the conventions recommend.
TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304,
                 16777216, 67108864)
DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48,
                    40.96, 81.92)
_OPERATIONS = {"completion": "chat", "text_completion": "text_completion",
               "embedding": "embeddings"}
# Our provider names -> the conventions' well-known gen_ai.provider.name values.
_PROVIDERS = {"azure": "azure.ai.openai", "gemini": "gcp.gemini", "vertex_ai": "gcp.vertex_ai",
              "bedrock": "aws.bedrock", "mistral": "mistral_ai", "xai": "x_ai",
              "watsonx": "ibm.watsonx.ai"}
_REQUEST_PARAMS = (("temperature", "gen_ai.request.temperature"),
                   ("top_p", "gen_ai.request.top_p"), ("top_k", "gen_ai.request.top_k"),
                   ("max_tokens", "gen_ai.request.max_tokens"),
                   ("max_completion_tokens", "gen_ai.request.max_tokens"),
                   ("frequency_penalty", "gen_ai.request.frequency_penalty"),
                   ("presence_penalty", "gen_ai.request.presence_penalty"),
                   ("seed", "gen_ai.request.seed"),
                   ("dimensions", "gen_ai.embeddings.dimension.count"))


def operation_name(call_type: str | None) -> str:
    """``gen_ai.operation.name`` for a call type (``acompletion`` -> ``chat``)."""
    name = call_type or "completion"
    if name not in _OPERATIONS and name.startswith("a"):
        name = name[1:]  # acompletion, aembedding, atext_completion
    return _OPERATIONS.get(name, name)


def request_attributes(kwargs: dict[str, Any], op: str, provider: str) -> dict[str, Any]:
    """Span attributes known before the reply: operation, provider, model, parameters,
    server address and port."""
    model = kwargs.get("model") or ""
    attrs: dict[str, Any] = {"gen_ai.operation.name": op, "gen_ai.provider.name": provider,
                             "gen_ai.system": provider, "gen_ai.request.model": model}
    params = kwargs.get("optional_params") or {}
    for key, attr in _REQUEST_PARAMS:
        value = params.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            attrs[attr] = value
    stop = params.get("stop")
    if stop:
        attrs["gen_ai.request.stop_sequences"] = [stop] if isinstance(stop, str) else [
            str(s) for s in stop]
    n = params.get("n")
    if isinstance(n, int) and n != 1:
        attrs["gen_ai.request.choice.count"] = n
    if params.get("encoding_format"):
        attrs["gen_ai.request.encoding_formats"] = [str(params["encoding_format"])]
    fmt = params.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type"):
        attrs["gen_ai.output.type"] = "json" if "json" in str(fmt["type"]) else "text"
    if kwargs.get("stream"):
        attrs["gen_ai.request.stream"] = True
    md = (kwargs.get("litellm_params") or {}).get("metadata") or {}
    conversation = md.get("conversation_id") or md.get("session_id")
    if conversation:
        attrs["gen_ai.conversation.id"] = str(conversation)
    api_base = (kwargs.get("litellm_params") or {}).get("api_base")
    if api_base:
        parts = urlsplit(str(api_base))
        if parts.hostname:
            attrs["server.address"] = parts.hostname
            attrs["server.port"] = parts.port or (443 if parts.scheme == "https" else 80)
    return attrs


def response_attributes(response: Any, payload: dict[str, Any]) -> dict[str, Any]:
    """Span attributes from the reply: id, model, finish reasons, token usage."""
    attrs: dict[str, Any] = {}
    if getattr(response, "id", None):
        attrs["gen_ai.response.id"] = str(response.id)
    if getattr(response, "model", None):
        attrs["gen_ai.response.model"] = str(response.model)
    reasons = payload.get("finish_reasons") or [
        c.finish_reason for c in getattr(response, "choices", None) or []
        if getattr(c, "finish_reason", None)]
    if reasons:
        attrs["gen_ai.response.finish_reasons"] = [str(r) for r in reasons]
    usage = getattr(response, "usage", None)
    if usage is not None:
        attrs["gen_ai.usage.input_tokens"] = int(getattr(usage, "prompt_tokens", 0) or 0)
        attrs["gen_ai.usage.output_tokens"] = int(getattr(usage, "completion_tokens", 0) or 0)
    for key, attr in (("cache_read_input_tokens", "gen_ai.usage.cache_read.input_tokens"),
                      ("cache_creation_input_tokens",
                       "gen_ai.usage.cache_creation.input_tokens"),
                      ("reasoning_tokens", "gen_ai.usage.reasoning.output_tokens")):
        n = payload.get(key) or 0
        if n:
            attrs[attr] = int(n)
    return attrs


def _media_part(part: dict[str, Any]) -> dict[str, Any]:
    """An image/audio/file content part in the conventions' uri/blob/file part shapes."""
    kind = part.get("type")
    if kind == "image_url":
        ref = part.get("image_url")
        url = str(ref.get("url") if isinstance(ref, dict) else ref or "")
        if url.startswith("data:") and ";base64," in url:
            head, _, data = url[5:].partition(";base64,")
            return {"type": "blob", "modality": "image", "mime_type": head or None,
                    "content": data}
        return {"type": "uri", "modality": "image", "uri": url}
    if kind == "input_audio":
        audio = part.get("input_audio") or {}
        fmt = audio.get("format") if isinstance(audio, dict) else None
        return {"type": "blob", "modality": "audio",
                "mime_type": f"audio/{fmt}" if fmt else None,
                "content": audio.get("data") if isinstance(audio, dict) else None}
    if kind == "file":
        ref = part.get("file") or {}
        if isinstance(ref, dict) and ref.get("file_id"):
            return {"type": "file", "modality": "document", "file_id": ref["file_id"]}
    return {"type": str(kind or "unknown")}


def _text_parts(content: Any) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, dict) and part.get("type") == "text":
                parts.append({"type": "text", "content": part.get("text")})
            elif isinstance(part, dict):
                parts.append(_media_part(part))
        return parts
    return [{"type": "text", "content": str(content)}]


def _field(obj: Any, key: str) -> Any:
    return obj.get(key) if isinstance(obj, dict) else getattr(obj, key, None)


def _arguments(raw: Any) -> Any:
    """Tool-call arguments as an object when they are JSON text (the conventions ask for
    the deserialised form), else as given."""
    if isinstance(raw, str):
        try:
            return json.loads(raw)
        except ValueError:
            return raw
    return raw


def _tool_parts(calls: Any) -> list[dict[str, Any]]:
    if not isinstance(calls, list):
        return []
    return [{"type": "tool_call", "id": _field(c, "id"),
             "name": _field(_field(c, "function"), "name"),
             "arguments": _arguments(_field(_field(c, "function"), "arguments"))}
            for c in calls]


def input_messages(kwargs: dict[str, Any], op: str) -> list[dict[str, Any]]:
    """The prompt in the conventions' ``gen_ai.input.messages`` shape (role + parts)."""
    messages = kwargs.get("messages")
    if op != "chat" or not isinstance(messages, list):
        prompt = kwargs.get("input")
        return [{"role": "user", "parts": _text_parts(prompt if isinstance(prompt, str)
                                                      else json.dumps(prompt, default=str))}]
    out = []
    for m in messages:
        if not isinstance(m, dict):
            continue
        role = str(m.get("role") or "user")
        if role == "tool":
            parts = [{"type": "tool_call_response", "id": m.get("tool_call_id"),
                      "response": m.get("content")}]
        else:
            parts = _text_parts(m.get("content"))
            parts.extend(_tool_parts(m.get("tool_calls")))
        out.append({"role": role, "parts": parts})
    return out


def output_messages(response: Any) -> list[dict[str, Any]]:
    """The completion in the ``gen_ai.output.messages`` shape, one entry per choice."""
    out = []
    for choice in getattr(response, "choices", None) or []:
        msg = getattr(choice, "message", None)
        if msg is not None:
            reasoning = getattr(msg, "reasoning_content", None)
            parts = [{"type": "reasoning", "content": str(reasoning)}] if reasoning else []
            parts.extend(_text_parts(getattr(msg, "content", None)))
            parts.extend(_tool_parts(getattr(msg, "tool_calls", None)))
        else:
            parts = _text_parts(getattr(choice, "text", None))
        out.append({"role": "assistant", "parts": parts,
                    "finish_reason": getattr(choice, "finish_reason", None) or "stop"})
    return out


def provider_name(provider: str | None) -> str:
    """Our provider name as the conventions' ``gen_ai.provider.name`` value."""
    name = str(provider or "unknown")
    return _PROVIDERS.get(name, name)
