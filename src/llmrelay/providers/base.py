"""The provider contract: pure translation between our call and one wire API.

A provider never does I/O. The client builds a :class:`Call`, asks the provider for an
:class:`HTTPRequest`, lets the transport send it, and hands the reply back to the provider
to parse (or to map to an exception). Streams are decoded line by line by a
:class:`StreamDecoder` the provider creates per call (or, when the decoder sets
``raw_bytes = True``, fed the body's byte chunks as they arrive: binary framings).

Two optional provider hooks serve wire APIs whose auth depends on the request:

* ``authorize(call, req, may_block=True) -> bool`` runs just before each attempt is sent,
  after the callbacks saw the request: it adds the auth headers for the exact body bytes
  (``req.payload()``), e.g. a SigV4 signature or an OAuth2 bearer token. Getting or
  refreshing credentials may block (an HTTP call to a token endpoint), which only a
  well-kept library does for it. With ``may_block=False`` it returns False instead of
  blocking; async calls then run it on a worker thread.
* ``follow_up(call, status, headers, body) -> FollowUp | None`` serves wire APIs where the
  first reply is not the answer (a job that is created, then polled: Replicate's
  predictions). Given each reply of a non-streamed call, it returns the request to send
  next (after ``FollowUp.after`` seconds) or None when that reply is the one to parse; for
  a stream, the request whose body is streamed (given the first reply, which is read
  whole). Only the last reply reaches ``parse_response`` and the callbacks.
* A request whose body is not JSON (a multipart upload, raw audio) sets
  ``HTTPRequest.content`` to the bytes to send and ``body`` to what callbacks see.
* Credentials given per call under LiteLLM's names (``aws_secret_access_key``,
  ``vertex_credentials`` ...; see ``_params.AUTH_OPTIONS``) arrive in ``Call.auth``,
  never in ``params``, so callbacks never see them.
"""

from __future__ import annotations

import base64
import json
import struct
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from ..exceptions import (
    APIConnectionError,
    BadRequestError,
    ContentPolicyViolationError,
    ContextWindowExceededError,
    LLMRelayError,
    error_for_status,
)

if TYPE_CHECKING:
    from ..types import ModelResponseStream
    from .registry import ProviderSpec

__all__ = [
    "ANTHROPIC_MESSAGES_PARAMS",
    "CHAT_PARAMS",
    "EMBEDDING_PARAMS",
    "IMAGE_PARAMS",
    "MODERATION_PARAMS",
    "RERANK_PARAMS",
    "RESPONSES_PARAMS",
    "SPEECH_PARAMS",
    "SURFACE_PARAMS",
    "TEXT_PARAMS",
    "TRANSCRIPTION_PARAMS",
    "Call",
    "FollowUp",
    "HTTPRequest",
    "Provider",
    "StreamDecoder",
    "bearer_headers",
    "body_excerpt",
    "decode_json",
    "embedding_format",
    "encode_vector",
    "error_from_exception",
    "error_from_reply",
]


# The parameters OpenAI defines for each call type: what ``Call.params`` may hold, checked
# against each provider's ``supported_params`` (a wire supporting fewer lists its subset).
CHAT_PARAMS = frozenset({
    "temperature", "top_p", "max_tokens", "max_completion_tokens", "n", "stop", "seed",
    "presence_penalty", "frequency_penalty", "logit_bias", "user", "tools", "tool_choice",
    "parallel_tool_calls", "response_format", "logprobs", "top_logprobs", "stream_options",
    "functions", "function_call", "modalities", "audio", "reasoning_effort", "service_tier",
    "store", "prediction", "web_search_options", "verbosity",
})
TEXT_PARAMS = frozenset({
    "temperature", "top_p", "max_tokens", "n", "stop", "seed", "presence_penalty",
    "frequency_penalty", "logit_bias", "user", "logprobs", "echo", "best_of", "suffix",
    "stream_options",
})
EMBEDDING_PARAMS = frozenset({"dimensions", "encoding_format", "user"})
IMAGE_PARAMS = frozenset({
    "n", "size", "quality", "style", "response_format", "user", "background", "moderation",
    "output_format", "output_compression", "partial_images",
})
TRANSCRIPTION_PARAMS = frozenset({
    "language", "prompt", "response_format", "temperature", "timestamp_granularities",
    "chunking_strategy", "include",
})
SPEECH_PARAMS = frozenset({"voice", "response_format", "speed", "instructions",
                           "stream_format"})
MODERATION_PARAMS: frozenset[str] = frozenset()
RERANK_PARAMS = frozenset({"documents", "top_n", "return_documents", "rank_fields",
                           "max_chunks_per_doc", "max_tokens_per_doc"})
RESPONSES_PARAMS = frozenset({
    "instructions", "max_output_tokens", "tools", "tool_choice", "temperature", "top_p",
    "previous_response_id", "reasoning", "text", "store", "parallel_tool_calls", "truncation",
    "user", "include", "background", "service_tier", "prompt", "safety_identifier",
    "prompt_cache_key", "max_tool_calls", "top_logprobs", "stream_options", "conversation",
})
# Anthropic's Messages API (``metadata`` is llmrelay's own option, as on every call)
ANTHROPIC_MESSAGES_PARAMS = frozenset({
    "max_tokens", "system", "stop_sequences", "temperature", "top_p", "top_k", "tools",
    "tool_choice", "thinking", "service_tier", "container", "mcp_servers",
    "context_management", "cache_control", "output_config", "output_format", "speed",
    "inference_geo", "diagnostics", "user_profile_id", "workspace_id",
})
# per call type beyond chat, text and embeddings
SURFACE_PARAMS: dict[str, frozenset[str]] = {
    "image_generation": IMAGE_PARAMS, "transcription": TRANSCRIPTION_PARAMS,
    "speech": SPEECH_PARAMS, "moderation": MODERATION_PARAMS, "rerank": RERANK_PARAMS,
    "responses": RESPONSES_PARAMS, "anthropic_messages": ANTHROPIC_MESSAGES_PARAMS,
}


@dataclass
class Call:
    """One normalised request, before any provider translation.

    ``params`` holds only the OpenAI-named optional parameters the caller set
    (``temperature``, ``tools`` ...), already checked against the provider's support.
    """

    call_type: str  # a declared call type: "completion", "embedding", "rerank", ...
    model: str  # the provider's own model name (no "provider/" prefix)
    spec: ProviderSpec
    messages: list[dict[str, Any]] | None = None
    input: Any = None  # embedding input, prompt, query, audio file, Responses input ...
    params: dict[str, Any] = field(default_factory=dict)
    stream: bool = False
    api_base: str | None = None
    api_key: str | None = None
    api_version: str | None = None
    extra_headers: dict[str, str] | None = None
    extra_body: dict[str, Any] | None = None
    azure_ad_token: str | None = None  # a bearer token; kept out of params (callbacks see those)
    auth: dict[str, Any] = field(default_factory=dict)  # per-call credentials and auth settings
    # what a layer resolved for the translation (the Responses bridge: the turns a
    # previous_response_id stands for); never sent as is
    state: Any = None

    @property
    def provider(self) -> str:
        return self.spec.name


# one encoder for every request body (``json.dumps`` with options builds one per call)
_compact_json = json.JSONEncoder(separators=(",", ":")).encode


@dataclass
class HTTPRequest:
    """One request to send. ``body`` is what callbacks see as ``complete_input_dict`` and,
    unless ``content`` is set, what is sent (as compact JSON); ``content`` is the exact
    bytes to send (set by :meth:`data` on first use)."""

    method: str
    url: str
    headers: dict[str, str]
    body: dict[str, Any] | None  # JSON body; the exact dict callbacks see
    content: bytes | None = None  # the exact bytes sent; encoded from ``body`` when None

    def payload(self) -> bytes | None:
        """The body bytes the transport sends (``body`` as compact JSON unless ``content``
        was set); computed once, so a signature over them stays valid."""
        if self.content is None and self.body is not None:
            try:
                self.content = _compact_json(self.body).encode()
            except (TypeError, ValueError) as exc:  # e.g. an object passed as a parameter
                raise BadRequestError(f"the request cannot be sent as JSON: {exc}; pass "
                                      f"JSON values (strings, numbers, lists, dicts)") from exc
        return self.content


class FollowUp:
    """The next request of a call whose reply was not the answer yet (see the module's
    ``follow_up``): send ``request`` after ``after`` seconds and treat its reply the same
    way."""

    __slots__ = ("after", "request")

    def __init__(self, request: HTTPRequest, after: float = 0.0) -> None:
        self.request = request
        self.after = after


class StreamDecoder(Protocol):
    """Turns the lines of a streamed reply into chunks; one instance per call. A decoder
    with a true ``raw_bytes`` attribute is fed the body's byte chunks instead of lines."""

    def feed(self, line: bytes) -> list[ModelResponseStream]:
        """Chunks completed by this line (often none or one)."""
        ...

    def finish(self) -> list[ModelResponseStream]:
        """Called at end of body; raises :class:`APIConnectionError` if the stream was cut."""
        ...


class Provider(Protocol):
    """What every wire API implements. ``supported_params`` gates ``drop_params``."""

    def supported_params(self, call_type: str) -> frozenset[str]: ...

    def build_request(self, call: Call) -> HTTPRequest: ...

    def parse_response(
        self, call: Call, status: int, headers: dict[str, str], body: bytes
    ) -> Any: ...

    def stream_decoder(self, call: Call) -> StreamDecoder: ...

    def map_error(
        self, call: Call, status: int, headers: dict[str, str], body: bytes
    ) -> LLMRelayError: ...


def embedding_format(call: Call) -> str:
    """The ``encoding_format`` an embedding call asked for: ``"float"`` (the default) or
    ``"base64"``. Raises :class:`BadRequestError` for anything else, before any I/O."""
    fmt = call.params.get("encoding_format")
    if fmt is None or fmt == "float":
        return "float"
    if fmt == "base64":
        return "base64"
    raise BadRequestError(f"encoding_format must be 'float' or 'base64', got {fmt!r}",
                          llm_provider=call.provider, model=call.model,
                          param="encoding_format")


def encode_vector(vector: list[float], fmt: str) -> list[float] | str:
    """``vector`` as OpenAI returns it for ``encoding_format=fmt``: the list itself, or for
    ``"base64"`` the base64 text of its little-endian float32 bytes."""
    if fmt != "base64":
        return vector
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")


def body_excerpt(body: bytes, limit: int = 500) -> str:
    text = body[:limit].decode("utf-8", "replace")
    return text + ("..." if len(body) > limit else "")


def decode_json(call: Call, status: int, headers: dict[str, str], body: bytes) -> Any:
    """Parse a JSON reply or raise a mapped error that quotes the body."""
    try:
        return json.loads(body)
    except ValueError as exc:
        kind = headers.get("content-type", "unknown content type")
        raise APIConnectionError(
            f"upstream returned a body that is not JSON ({kind}): {body_excerpt(body)}",
            status_code=status,
            llm_provider=call.provider,
            model=call.model,
            response_body=body_excerpt(body),
            response_headers=headers,
        ) from exc


def bearer_headers(call: Call, headers: dict[str, str] | None = None) -> dict[str, str]:
    """``headers`` (a new dict when None) with ``Authorization: Bearer <api_key>`` when the
    call has a key, then the caller's ``extra_headers`` (last: they win)."""
    out = {} if headers is None else headers
    if call.api_key:
        out["Authorization"] = f"Bearer {call.api_key}"
    if call.extra_headers:
        out.update(call.extra_headers)
    return out


def stream_event_object(call: Call, data: bytes, sender: str) -> dict[str, Any] | None:
    """One stream event's JSON: the object, None for valid JSON that is not an object, or
    :class:`APIConnectionError` naming ``sender`` and quoting the event when it is not
    JSON."""
    try:
        obj = json.loads(data)
    except ValueError as exc:
        raise APIConnectionError(f"{sender} sent an unreadable stream event: "
                                 f"{body_excerpt(data)}", llm_provider=call.provider,
                                 model=call.model) from exc
    return obj if isinstance(obj, dict) else None


_CONTEXT_MARKERS = (
    "context_length_exceeded",
    "context length",
    "maximum context",
    "prompt is too long",
    "too many tokens",
    "input is too long",
    "exceeds the context window",
    "exceed context limit",  # Anthropic: input length and `max_tokens` exceed context limit
)
_POLICY_MARKERS = ("content_policy", "content_filter", "content management policy", "safety")


def error_from_reply(
    call: Call,
    status: int,
    headers: dict[str, str],
    body: bytes,
    message: str | None = None,
    code: str | None = None,
    param: str | None = None,
) -> LLMRelayError:
    """Build the mapped exception for an HTTP error reply.

    Providers extract ``message``/``code`` from their own error body; this picks the class
    from the status and, for 400s, from markers of context-window and content-policy errors.
    """
    excerpt = body_excerpt(body)
    text = message or excerpt or f"HTTP {status}"
    cls = error_for_status(status)
    if status in (400, 413, 422):
        probe = f"{code or ''} {text}".lower()
        if any(m in probe for m in _CONTEXT_MARKERS):
            cls = ContextWindowExceededError
        elif any(m in probe for m in _POLICY_MARKERS):
            cls = ContentPolicyViolationError
    return cls(
        text,
        status_code=status,
        llm_provider=call.provider,
        model=call.model,
        response_body=excerpt,
        response_headers=headers,
        code=code,
        param=param,
    )


# Wording of plain exceptions (a mock's, a Python handler's) that names these errors.
_EXC_POLICY = ("content_filter", "content filter", "content policy", "content_policy")
_EXC_CONTEXT = ("context window", "context_window", "context length", "maximum context")


def error_from_exception(call: Call, exc: BaseException) -> LLMRelayError:
    """A plain exception raised in place of a provider reply (``mock_response=``, a
    :class:`llmrelay.CustomLLM` handler) as the error a provider call would raise, as
    LiteLLM maps it: one carrying an HTTP ``status_code`` maps by status (a 429 is a
    ``RateLimitError`` ...); content-policy and context-window wording map to those errors;
    anything else is a 500 ``APIError``. The text is the exception's own, else its ``text``
    or ``message`` attribute. The caller chains the original."""
    from ..exceptions import APIError

    text = str(exc)
    if not text:
        extra = getattr(exc, "text", None) or getattr(exc, "message", None)
        text = extra if isinstance(extra, str) else ""
    low = text.lower()
    status = getattr(exc, "status_code", None)
    status = status if isinstance(status, int) and not isinstance(status, bool) else None
    cls: type[LLMRelayError] = APIError
    if status is not None and status >= 400:
        cls = error_for_status(status)
    if status in (None, 400) and any(w in low for w in _EXC_POLICY):
        cls = ContentPolicyViolationError
    elif status in (None, 400) and any(w in low for w in _EXC_CONTEXT):
        cls = ContextWindowExceededError
    return cls(text, llm_provider=call.provider, model=call.model, status_code=status)
