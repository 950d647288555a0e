"""Ollama's native API: ``POST /api/chat`` and ``POST /api/embed``.

``ollama/<model>`` sends ``{model, messages, stream, options, format, tools}`` to
``{base}/api/chat`` (base from ``api_base=``, ``OLLAMA_API_BASE``, else
``http://localhost:11434``). Sampling parameters go to ``options`` (``max_tokens`` ->
``num_predict``); ``response_format`` becomes ``format`` (``"json"`` or a JSON schema).
Messages carry plain-string content, base64 ``images`` and tool calls whose arguments are
objects. No key is needed; one given is sent as a Bearer token (for servers behind a proxy).
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Any

from ...exceptions import APIConnectionError, BadRequestError, LLMRelayError
from ...types import Choices, Embedding, EmbeddingResponse, Message, ModelResponse, Usage, new_id
from ..base import (
    Call,
    HTTPRequest,
    bearer_headers,
    body_excerpt,
    decode_json,
    embedding_format,
    encode_vector,
    error_from_reply,
)
from ..registry import ProviderSpec

__all__ = ["CHAT_PARAMS", "EMBEDDING_PARAMS", "OllamaProvider", "ollama_error", "parse_chat",
           "to_usage"]

CHAT_PARAMS = frozenset({
    "temperature", "top_p", "max_tokens", "max_completion_tokens", "stop", "seed",
    "presence_penalty", "frequency_penalty", "response_format", "tools", "stream_options",
})
EMBEDDING_PARAMS = frozenset({"dimensions", "encoding_format"})
DEFAULT_BASE = "http://localhost:11434"
_OPTION_NAMES = {"temperature": "temperature", "top_p": "top_p", "seed": "seed",
                 "presence_penalty": "presence_penalty",
                 "frequency_penalty": "frequency_penalty"}
# Ollama's own runtime options, accepted as keyword arguments and sent inside ``options``.
_NATIVE_OPTIONS = frozenset({
    "num_ctx", "num_keep", "num_predict", "top_k", "min_p", "typical_p", "tfs_z",
    "repeat_last_n", "repeat_penalty", "mirostat", "mirostat_tau", "mirostat_eta",
    "penalize_newline", "num_batch", "num_gpu", "main_gpu", "num_thread", "use_mmap", "numa",
})
_HANDLED = frozenset(_OPTION_NAMES) | {"max_tokens", "max_completion_tokens", "stop",
                                       "response_format", "tools", "stream_options"}


def _bad(call: Call, message: str, param: str) -> BadRequestError:
    return BadRequestError(message, llm_provider=call.provider, model=call.model, param=param)


# ---- request -------------------------------------------------------------------------------
def _content(call: Call, content: Any, where: str) -> tuple[str, list[str]]:
    """(text, base64 images) of an OpenAI message content."""
    if content is None or isinstance(content, str):
        return content or "", []
    texts: list[str] = []
    images: list[str] = []
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if isinstance(part, str):
            texts.append(part)
        elif kind == "text":
            texts.append(part.get("text") or "")
        elif kind == "image_url":
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            if not isinstance(url, str) or not url.startswith("data:"):
                raise _bad(call, f"{where}.content[{j}]: ollama takes images inline only; "
                           "pass a data: URL (data:image/png;base64,...)", "messages")
            images.append(url.partition(",")[2])
        else:
            raise _bad(call, f"{where}.content[{j}]: unsupported content part for ollama: "
                       f"{str(part)[:120]}", "messages")
    return "".join(texts), images


def _tool_calls(call: Call, calls: Any, where: str, names: dict[str, str]) -> list[Any]:
    out = []
    for j, tc in enumerate(calls):
        fn = tc.get("function") or {}
        raw = fn.get("arguments") or "{}"
        try:
            args = json.loads(raw) if isinstance(raw, str) else raw
        except ValueError:
            raise _bad(call, f"{where}.tool_calls[{j}].function.arguments is not valid JSON",
                       "messages") from None
        names[str(tc.get("id") or "")] = str(fn.get("name"))
        out.append({"function": {"name": fn.get("name"), "arguments": args}})
    return out


def to_messages(call: Call, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """OpenAI messages -> Ollama chat messages."""
    out: list[dict[str, Any]] = []
    names: dict[str, str] = {}  # tool_call_id -> function name, for tool results
    for i, m in enumerate(messages):
        where = f"messages[{i}]"
        role = "system" if m.get("role") == "developer" else m.get("role")
        text, images = _content(call, m.get("content"), where)
        msg: dict[str, Any] = {"role": role, "content": text}
        if images:
            msg["images"] = images
        if m.get("tool_calls"):
            msg["tool_calls"] = _tool_calls(call, m["tool_calls"], where, names)
        if role == "tool":
            name = m.get("name") or names.get(str(m.get("tool_call_id") or ""))
            if name:
                msg["tool_name"] = name
        out.append(msg)
    return out


def _format(call: Call, fmt: Any) -> Any:
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind == "text":
        return None
    if kind == "json_object":
        return "json"
    if kind == "json_schema":
        schema = (fmt.get("json_schema") or {}).get("schema")
        return schema if isinstance(schema, dict) else "json"
    raise _bad(call, f"unsupported response_format for ollama: {fmt!r}", "response_format")


def chat_body(call: Call) -> dict[str, Any]:
    params = call.params
    options: dict[str, Any] = {theirs: params[ours] for ours, theirs in _OPTION_NAMES.items()
                               if ours in params}
    limit = params.get("max_completion_tokens", params.get("max_tokens"))
    if limit is not None:
        options["num_predict"] = limit
    stop = params.get("stop")
    if stop:
        options["stop"] = [stop] if isinstance(stop, str) else list(stop)
    body: dict[str, Any] = {"model": call.model,
                            "messages": to_messages(call, call.messages or []),
                            "stream": call.stream}  # Ollama streams unless told not to
    if params.get("tools"):
        body["tools"] = params["tools"]
    if "response_format" in params:
        fmt = _format(call, params["response_format"])
        if fmt is not None:
            body["format"] = fmt
    for key, value in params.items():  # keywords outside OpenAI's set
        if key in _HANDLED:
            continue
        if key in _NATIVE_OPTIONS:
            options[key] = value
        elif key == "options" and isinstance(value, dict):
            options.update(value)
        else:
            body[key] = value  # keep_alive, think, ...
    if options:
        body["options"] = options
    if call.extra_body:
        body.update(call.extra_body)
    return body


def embed_body(call: Call) -> dict[str, Any]:
    embedding_format(call)  # a bad value fails here, before any I/O
    body: dict[str, Any] = {"model": call.model, "input": call.input}
    for key, value in call.params.items():
        if key != "encoding_format":  # applied to the reply: Ollama returns floats
            body[key] = value  # dimensions, truncate, keep_alive, options
    if call.extra_body:
        body.update(call.extra_body)
    return body


# ---- reply ---------------------------------------------------------------------------------
def created_of(data: dict[str, Any]) -> int:
    """``created_at`` (RFC 3339 with nanoseconds) as epoch seconds; now when unreadable."""
    stamp = data.get("created_at")
    if isinstance(stamp, str) and stamp:
        head = stamp.replace("Z", "+00:00")
        if "." in head:  # Python parses at most microseconds
            main, _, rest = head.partition(".")
            zone = rest.lstrip("0123456789")
            digits = rest[: len(rest) - len(zone)]
            head = f"{main}.{digits[:6].ljust(6, '0')}{zone}"  # 3.10 wants 3 or 6 digits
        try:
            return int(datetime.fromisoformat(head).timestamp())
        except ValueError:
            pass
    return int(time.time())


def to_usage(data: dict[str, Any]) -> Usage:
    return Usage(prompt_tokens=int(data.get("prompt_eval_count") or 0),
                 completion_tokens=int(data.get("eval_count") or 0))


def tool_calls_of(message: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for tc in message.get("tool_calls") or ():
        if not isinstance(tc, dict):
            continue
        fn = tc.get("function") or {}
        args = fn.get("arguments")
        out.append({"id": tc.get("id") or new_id("call_"), "type": "function",
                    "function": {"name": fn.get("name"),
                                 "arguments": args if isinstance(args, str) else
                                 json.dumps(args or {}, ensure_ascii=False)}})
    return out


def finish_of(data: dict[str, Any], has_tools: bool) -> str:
    if has_tools:
        return "tool_calls"
    return "length" if data.get("done_reason") == "length" else "stop"


def parse_chat(call: Call, data: Any, body: bytes) -> ModelResponse:
    """An ``/api/chat`` reply -> ModelResponse; APIConnectionError when it has no message."""
    message = data.get("message") if isinstance(data, dict) else None
    if not isinstance(message, dict):
        raise APIConnectionError(f"ollama reply has no 'message': {body_excerpt(body)}",
                                 llm_provider=call.provider, model=call.model,
                                 response_body=body_excerpt(body))
    calls = tool_calls_of(message)
    msg = Message(role="assistant", content=message.get("content") or ("" if not calls
                                                                        else None),
                  tool_calls=calls or None)
    if message.get("thinking"):
        msg.reasoning_content = message["thinking"]  # type: ignore[attr-defined]
    return ModelResponse(model=data.get("model") or call.model, created=created_of(data),
                         choices=[Choices(index=0, message=msg,
                                          finish_reason=finish_of(data, bool(calls)))],
                         usage=to_usage(data))


def parse_embed(call: Call, data: Any, body: bytes) -> EmbeddingResponse:
    vectors = data.get("embeddings") if isinstance(data, dict) else None
    if not isinstance(vectors, list):
        raise APIConnectionError(f"ollama embed reply has no 'embeddings': {body_excerpt(body)}",
                                 llm_provider=call.provider, model=call.model,
                                 response_body=body_excerpt(body))
    tokens = int(data.get("prompt_eval_count") or 0)
    fmt = embedding_format(call)
    return EmbeddingResponse(model=data.get("model") or call.model,
                             data=[Embedding(index=i, embedding=encode_vector(v, fmt))
                                   for i, v in enumerate(vectors)],
                             usage=Usage(prompt_tokens=tokens, total_tokens=tokens))


def ollama_error(call: Call, status: int, headers: dict[str, str], body: bytes) -> LLMRelayError:
    """Map ``{"error": "..."}`` with its HTTP status (404: the model is not pulled)."""
    message = None
    try:
        data = json.loads(body)
        err = data.get("error") if isinstance(data, dict) else None
        message = err if isinstance(err, str) else (err or {}).get("message")
    except (ValueError, AttributeError):
        message = None
    text = str(message or f"HTTP {status} from ollama: {body_excerpt(body)}")
    return error_from_reply(call, status, headers, body, text)


class OllamaProvider:
    """Pure translation for Ollama's native API; one instance per provider row."""

    def __init__(self, spec: ProviderSpec) -> None:
        self.spec = spec

    def supported_params(self, call_type: str) -> frozenset[str]:
        if call_type == "embedding":
            return EMBEDDING_PARAMS
        return CHAT_PARAMS if call_type == "completion" else frozenset()

    def build_request(self, call: Call) -> HTTPRequest:
        """The ``/api/chat`` or ``/api/embed`` request; BadRequestError (before any I/O) for
        text completions and for content Ollama cannot carry."""
        if call.call_type not in ("completion", "embedding"):
            raise BadRequestError(
                "ollama/ offers chat completions and embeddings here, not text completions: "
                "call completion() with messages=[{'role': 'user', 'content': prompt}]",
                llm_provider=self.spec.name, model=call.model)
        base = (call.api_base or self.spec.env_base() or self.spec.base_url
                or DEFAULT_BASE).rstrip("/")
        headers = bearer_headers(call, {"Content-Type": "application/json"})
        if call.call_type == "embedding":
            return HTTPRequest("POST", base + "/api/embed", headers, embed_body(call))
        return HTTPRequest("POST", base + "/api/chat", headers, chat_body(call))

    def parse_response(self, call: Call, status: int, headers: dict[str, str],
                       body: bytes) -> Any:
        data = decode_json(call, status, headers, body)
        if isinstance(data, dict) and data.get("error"):
            raise ollama_error(call, status if status >= 400 else 500, headers, body)
        if call.call_type == "embedding":
            return parse_embed(call, data, body)
        return parse_chat(call, data, body)

    def stream_decoder(self, call: Call) -> Any:
        from .stream import OllamaStreamDecoder

        return OllamaStreamDecoder(call)

    def map_error(self, call: Call, status: int, headers: dict[str, str],
                  body: bytes) -> LLMRelayError:
        return ollama_error(call, status, headers, body)
