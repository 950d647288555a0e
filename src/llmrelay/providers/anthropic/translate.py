"""OpenAI-style call -> Anthropic Messages API request, and the provider object.

Parameter mapping (anything not listed and not an OpenAI parameter, such as ``top_k`` or
``thinking``, is copied into the body unchanged, like ``extra_body``):

==========================  ====================================================================
``max_tokens``              ``max_tokens``; ``max_completion_tokens`` when it is absent; else the
                            model's ``max_output_tokens`` from the price table, else 4096 (the
                            API requires a value)
``stop``                    ``stop_sequences`` (always a list)
``user``                    ``metadata.user_id``
``tools``                   ``{name, description, input_schema}``; non-function tools pass as is
``tool_choice``             ``auto``/``required``/``none``/named -> ``auto``/``any``/``none``/``tool``
``parallel_tool_calls``     ``False`` -> ``tool_choice.disable_parallel_tool_use``
``reasoning_effort``        ``thinking: {type: enabled, budget_tokens}`` (see ``EFFORT_BUDGETS``)
``response_format``         a forced tool (below)
``stream_options``          nothing is sent: the API always reports usage in streams
==========================  ====================================================================

Structured output: ``response_format`` of type ``json_schema`` or ``json_object`` becomes one
extra tool, :data:`JSON_TOOL`, whose ``input_schema`` is the schema (``{"type": "object"}`` for
``json_object``), and ``tool_choice`` forces it. This works on every Claude model without a
beta header, unlike Anthropic's newer ``output_format``. The tool's input is returned as the
message ``content`` (a JSON string) with ``finish_reason="stop"``, streamed as content deltas.
The tool is only *offered* (``tool_choice: auto``) when the caller passed tools of their own or
enabled extended thinking, because the API forbids forcing a tool while thinking.
"""

from __future__ import annotations

from typing import Any

from ...cost import lookup
from ...exceptions import (
    AuthenticationError,
    BadRequestError,
    LLMRelayError,
    UnsupportedParamsError,
)
from ..base import Call, HTTPRequest
from ..registry import ProviderSpec
from .messages import convert_messages
from .response import JSON_TOOL, anthropic_error, parse_message
from .stream import AnthropicStreamDecoder

__all__ = ["API_VERSION", "CHAT_PARAMS", "EFFORT_BUDGETS", "JSON_TOOL", "TEXT_PARAMS",
           "AnthropicProvider", "build_body"]

API_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 4096
CHAT_PARAMS = frozenset({
    "temperature", "top_p", "max_tokens", "max_completion_tokens", "stop", "user", "tools",
    "tool_choice", "parallel_tool_calls", "response_format", "reasoning_effort",
    "stream_options",
})
TEXT_PARAMS = frozenset({"temperature", "top_p", "max_tokens", "stop", "user",
                         "stream_options"})
# Thinking budgets (tokens) for OpenAI's reasoning_effort values; the API minimum is 1024.
EFFORT_BUDGETS = {"minimal": 1024, "low": 2048, "medium": 8192, "high": 24576}
MIN_THINKING_BUDGET = 1024
_MAPPED = frozenset({"max_tokens", "max_completion_tokens", "stop", "user", "tools",
                     "tool_choice", "parallel_tool_calls", "response_format",
                     "reasoning_effort", "stream_options", "thinking"})


def _bad(message: str, param: str) -> BadRequestError:
    return BadRequestError(message, llm_provider="anthropic", param=param)


def convert_tools(tools: Any) -> list[dict[str, Any]]:
    """OpenAI ``tools`` as Anthropic tool definitions."""
    if not isinstance(tools, list):
        raise _bad("`tools` must be a list", "tools")
    out: list[dict[str, Any]] = []
    for tool in tools:
        if not isinstance(tool, dict):
            raise _bad("each tool must be a dict", "tools")
        fn = tool.get("function")
        if tool.get("type") != "function" or not isinstance(fn, dict):
            out.append(dict(tool))  # an Anthropic tool already (server tools, input_schema)
            continue
        if not fn.get("name"):
            raise _bad("each function tool needs a name", "tools")
        item: dict[str, Any] = {"name": fn["name"]}
        if fn.get("description"):
            item["description"] = fn["description"]
        item["input_schema"] = fn.get("parameters") or {"type": "object", "properties": {}}
        cache = tool.get("cache_control", fn.get("cache_control"))
        if cache is not None:
            item["cache_control"] = cache
        out.append(item)
    return out


def convert_tool_choice(choice: Any) -> dict[str, Any]:
    """OpenAI ``tool_choice`` as Anthropic's ``{"type": ...}`` object."""
    if isinstance(choice, str):
        mapped = {"auto": "auto", "required": "any", "any": "any", "none": "none"}.get(choice)
        if mapped is None:
            raise _bad(f"unknown tool_choice {choice!r}; use 'auto', 'required', 'none' or "
                       "{'type': 'function', 'function': {'name': ...}}", "tool_choice")
        return {"type": mapped}
    if isinstance(choice, dict):
        if choice.get("type") == "function":
            name = (choice.get("function") or {}).get("name")
            if not name:
                raise _bad("tool_choice of type 'function' needs function.name", "tool_choice")
            return {"type": "tool", "name": name}
        if choice.get("type") in ("auto", "any", "none", "tool"):
            return dict(choice)  # already Anthropic's shape
    raise _bad(f"unsupported tool_choice {choice!r}", "tool_choice")


def _thinking(params: dict[str, Any], max_tokens: int) -> dict[str, Any] | None:
    """The ``thinking`` config: given as is, or derived from ``reasoning_effort``."""
    given = params.get("thinking")
    if given is not None:
        return dict(given) if isinstance(given, dict) else given
    effort = params.get("reasoning_effort")
    if effort is None or effort in ("none", "disable", "disabled"):
        return None
    budget = EFFORT_BUDGETS.get(str(effort))
    if budget is None:
        raise _bad(f"unknown reasoning_effort {effort!r}; use one of "
                   f"{', '.join(EFFORT_BUDGETS)} or 'none'", "reasoning_effort")
    budget = min(budget, max_tokens - 1)  # the API wants budget_tokens < max_tokens
    if budget < MIN_THINKING_BUDGET:
        raise _bad(f"reasoning_effort needs max_tokens above {MIN_THINKING_BUDGET} for "
                   f"Anthropic (got max_tokens={max_tokens})", "reasoning_effort")
    return {"type": "enabled", "budget_tokens": budget}


def _json_tool(fmt: Any) -> dict[str, Any] | None:
    """The forced tool standing in for ``response_format`` (None for plain text)."""
    if not isinstance(fmt, dict) or fmt.get("type") in (None, "text"):
        return None
    kind = fmt["type"]
    if kind == "json_object":
        schema: Any = {"type": "object"}
        about = "Give the answer as a JSON object."
    elif kind == "json_schema":
        spec = fmt.get("json_schema") or {}
        schema = spec.get("schema") or {"type": "object"}
        about = spec.get("description") or "Give the answer as JSON matching the schema."
    else:
        raise _bad(f"unsupported response_format type {kind!r}", "response_format")
    return {"name": JSON_TOOL, "description": about, "input_schema": schema}


def _add_tools(body: dict[str, Any], params: dict[str, Any]) -> None:
    tools = convert_tools(params["tools"]) if params.get("tools") else []
    choice = (convert_tool_choice(params["tool_choice"])
              if params.get("tool_choice") is not None else None)
    json_tool = _json_tool(params.get("response_format"))
    if json_tool is not None:
        forced = not tools and not _thinking_on(body)
        tools.append(json_tool)
        if choice is None:
            choice = {"type": "tool", "name": JSON_TOOL} if forced else {"type": "auto"}
    if params.get("parallel_tool_calls") is False and tools:
        choice = dict(choice or {"type": "auto"})
        if choice["type"] != "none":
            choice["disable_parallel_tool_use"] = True
    if tools:
        body["tools"] = tools
    if choice is not None:
        body["tool_choice"] = choice


def _thinking_on(body: dict[str, Any]) -> bool:
    cfg = body.get("thinking")
    return isinstance(cfg, dict) and cfg.get("type") in ("enabled", "adaptive")


def _max_tokens(call: Call) -> int:
    for key in ("max_tokens", "max_completion_tokens"):
        value = call.params.get(key)
        if value is not None:
            return int(value)
    row = lookup(call.model, "anthropic")
    limit = row.get("max_output_tokens") if row else None
    return int(limit) if isinstance(limit, int) and limit > 0 else DEFAULT_MAX_TOKENS


def _prompt_messages(call: Call) -> list[dict[str, Any]]:
    """``text_completion``'s prompt as one user message."""
    prompt = call.input
    if isinstance(prompt, list):
        if len(prompt) != 1 or not isinstance(prompt[0], str):
            raise UnsupportedParamsError(
                "Anthropic takes one prompt string per text_completion call",
                llm_provider=call.provider, model=call.model, param="prompt")
        prompt = prompt[0]
    return [{"role": "user", "content": str(prompt)}]


def build_body(call: Call) -> dict[str, Any]:
    """The JSON body of ``POST /v1/messages`` for ``call`` (see the module docstring).

    Raises :class:`BadRequestError` for messages or parameters Anthropic cannot express.
    """
    params = call.params
    msgs = call.messages if call.call_type == "completion" else _prompt_messages(call)
    system, messages = convert_messages(msgs or [])
    max_tokens = _max_tokens(call)
    body: dict[str, Any] = {"model": call.model, "messages": messages}
    if system is not None:
        body["system"] = system
    body["max_tokens"] = max_tokens
    thinking = _thinking(params, max_tokens)
    if thinking is not None:
        body["thinking"] = thinking
    stop = params.get("stop")
    if stop is not None:
        body["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    if params.get("user") is not None:
        body["metadata"] = {"user_id": str(params["user"])}
    _add_tools(body, params)
    for key, value in params.items():
        if key not in _MAPPED:
            body[key] = value  # temperature, top_p, top_k and vendor-specific extras
    if call.stream:
        body["stream"] = True
    if call.extra_body:
        body.update(call.extra_body)
    return body


def messages_url(base: str) -> str:
    """``POST`` URL for a base that may or may not already end in ``/v1`` or ``/v1/messages``."""
    base = base.rstrip("/")
    if base.endswith("/v1/messages"):
        return base
    if base.endswith("/v1"):
        return base + "/messages"
    return base + "/v1/messages"


class AnthropicProvider:
    """Pure translation for Anthropic's Messages API; one instance per provider row."""

    def __init__(self, spec: ProviderSpec) -> None:
        self.spec = spec

    def supported_params(self, call_type: str) -> frozenset[str]:
        """OpenAI parameters Anthropic can honour; ``drop_params`` drops the others."""
        return TEXT_PARAMS if call_type == "text_completion" else CHAT_PARAMS

    def _base(self, call: Call) -> str:
        base = call.api_base or self.spec.env_base() or self.spec.base_url
        return (base or "https://api.anthropic.com").rstrip("/")

    def _check(self, call: Call, base: str) -> None:
        if call.call_type == "embedding":
            raise BadRequestError(
                f"provider {self.spec.name!r} (Anthropic) has no embeddings API; use another "
                "provider for embeddings", llm_provider=self.spec.name, model=call.model)
        if call.api_key or (self.spec.base_url and base != self.spec.base_url.rstrip("/")):
            return  # a gateway or proxy in front of Anthropic may need no key
        env = " or ".join(self.spec.key_env)
        raise AuthenticationError(
            f"missing API key for provider {self.spec.name!r}: pass api_key= or set {env}",
            llm_provider=self.spec.name, model=call.model)

    def surface(self, call_type: str) -> Any:
        """Anthropic's Messages API as itself (``anthropic_messages``); else None."""
        if call_type != "anthropic_messages":
            return None
        from .passthrough import MessagesPassthrough

        return MessagesPassthrough(self)

    def headers(self, call: Call) -> dict[str, str]:
        """JSON, ``anthropic-version`` and ``x-api-key``; the caller's extra headers win
        (an ``anthropic-beta`` or another version)."""
        headers = {"content-type": "application/json", "anthropic-version": API_VERSION}
        if call.api_key:
            headers["x-api-key"] = call.api_key
        if call.extra_headers:  # the caller's spelling wins, whatever its case
            given = {k.lower() for k in call.extra_headers}
            headers = {k: v for k, v in headers.items() if k not in given}
            headers.update(call.extra_headers)
        return headers

    def build_request(self, call: Call) -> HTTPRequest:
        """The HTTP request for ``call``. Raises :class:`BadRequestError` for embeddings or
        untranslatable input, :class:`AuthenticationError` when no key is configured."""
        base = self._base(call)
        self._check(call, base)
        return HTTPRequest("POST", messages_url(base), self.headers(call), build_body(call))

    def parse_response(self, call: Call, status: int, headers: dict[str, str],
                       body: bytes) -> Any:
        return parse_message(call, status, headers, body)

    def stream_decoder(self, call: Call) -> AnthropicStreamDecoder:
        return AnthropicStreamDecoder(call)

    def map_error(self, call: Call, status: int, headers: dict[str, str],
                  body: bytes) -> LLMRelayError:
        return anthropic_error(call, status, headers, body)
