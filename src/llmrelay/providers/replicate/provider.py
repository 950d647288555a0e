"""Replicate's predictions API: chat completions as language-model predictions.

``replicate/<owner>/<name>`` creates a prediction with ``POST {base}/models/<owner>/<name>/
predictions``; ``replicate/<owner>/<name>:<version>`` with ``POST {base}/predictions`` and
``version``; ``replicate/deployments/<owner>/<name>`` with ``POST {base}/deployments/<owner>/
<name>/predictions`` (base from ``api_base=``, ``REPLICATE_API_BASE``, else
``https://api.replicate.com/v1``; key from ``api_key=``, ``REPLICATE_API_KEY`` or
``REPLICATE_API_TOKEN``, sent as a Bearer token).

The body is ``{"input": {...}}``: ``prompt`` is the conversation as one string (the model's
template from ``register_prompt_template`` when one is registered; otherwise the one user
message as it is, or ``User:``/``Assistant:`` turns ending with ``Assistant:``), the system
messages go to ``system_prompt`` (without a template), ``max_tokens`` is sent as
``max_new_tokens``, ``stop`` as ``stop_sequences`` (comma-separated), ``temperature``,
``top_p`` and ``seed`` as they are, and any other keyword (``top_k``, ``repetition_penalty``
...) as a model input. ``Prefer: wait`` asks Replicate to answer at once when the model is
quick.

A prediction that is not finished yet (``starting``/``processing``) is polled at its
``urls.get`` (see :meth:`ReplicateProvider.follow_up`) until it ``succeeded`` (its ``output``
pieces joined are the reply) or ``failed``/``canceled`` (an error quoting Replicate's).
A stream creates the prediction with ``"stream": true`` and reads ``urls.stream``
(server-sent ``output`` events, then ``done`` or ``error``). Replicate reports no token
counts; usage is estimated.
"""

from __future__ import annotations

from typing import Any

from ...exceptions import APIError, BadRequestError, LLMRelayError
from ...types import Choices, Message, ModelResponse, new_id
from ..base import (
    Call,
    FollowUp,
    HTTPRequest,
    bearer_headers,
    body_excerpt,
    decode_json,
    error_from_reply,
)
from ..registry import ProviderSpec

__all__ = ["CHAT_PARAMS", "ReplicateProvider", "replicate_error"]

CHAT_PARAMS = frozenset({"temperature", "top_p", "max_tokens", "max_completion_tokens", "stop",
                         "seed", "stream_options"})
DEFAULT_BASE = "https://api.replicate.com/v1"
POLL_EVERY = 0.5  # seconds between two looks at an unfinished prediction
_RENAMED = {"max_tokens": "max_new_tokens", "max_completion_tokens": "max_new_tokens"}
_NOT_INPUTS = frozenset({"stream_options", "stop"})
_UNFINISHED = frozenset({"starting", "processing"})


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content
                       if isinstance(p, dict) and p.get("type") == "text")
    return "" if content is None else str(content)


def _prompt(call: Call) -> tuple[str, str | None]:
    """(prompt, system prompt) for the call's messages."""
    from ...prompt_templates import render_prompt  # the user's templates, read at call time

    messages = call.messages or []
    for name in (f"{call.provider}/{call.model}", call.model):
        rendered = render_prompt(name, messages)
        if rendered is not None:
            return rendered, None
    system = "\n".join(_text(m.get("content")) for m in messages if m.get("role") == "system")
    turns = [m for m in messages if m.get("role") != "system"]
    if len(turns) == 1 and turns[0].get("role") == "user":
        return _text(turns[0].get("content")), system or None
    lines = [f"{'Assistant' if m.get('role') == 'assistant' else 'User'}: "
             f"{_text(m.get('content'))}" for m in turns]
    return "\n".join([*lines, "Assistant:"]), system or None


def _endpoint(base: str, model: str) -> tuple[str, str | None]:
    """(URL, version) of the create request for ``model``."""
    if model.startswith("deployments/"):
        return f"{base}/deployments/{model[len('deployments/'):]}/predictions", None
    name, sep, version = model.partition(":")
    if sep:
        return f"{base}/predictions", version
    return f"{base}/models/{name}/predictions", None


def replicate_error(call: Call, status: int, headers: dict[str, str],
                    body: bytes) -> LLMRelayError:
    """The mapped error of an error reply (Replicate's ``detail`` or ``error`` text)."""
    message = None
    try:
        import json

        data = json.loads(body)
        if isinstance(data, dict):
            found = data.get("detail") or data.get("error") or data.get("title")
            message = found if isinstance(found, str) else None
    except ValueError:
        pass
    return error_from_reply(call, status, headers, body, message=message)


class ReplicateProvider:
    """The predictions API; see the module docstring."""

    def __init__(self, spec: ProviderSpec) -> None:
        self.spec = spec

    def supported_params(self, call_type: str) -> frozenset[str]:
        return CHAT_PARAMS if call_type == "completion" else frozenset()

    def _headers(self, call: Call) -> dict[str, str]:
        return bearer_headers(call, {"Content-Type": "application/json"})

    def build_request(self, call: Call) -> HTTPRequest:
        """The create-prediction request; BadRequestError (before any I/O) for other call
        types than chat."""
        if call.call_type != "completion":
            raise BadRequestError(
                f"replicate/ offers chat completions here, not {call.call_type}",
                llm_provider=call.provider, model=call.model)
        base = (call.api_base or self.spec.env_base() or DEFAULT_BASE).rstrip("/")
        url, version = _endpoint(base, call.model)
        prompt, system = _prompt(call)
        inputs: dict[str, Any] = {"prompt": prompt}
        if system:
            inputs["system_prompt"] = system
        for key, value in call.params.items():
            if key not in _NOT_INPUTS:
                inputs[_RENAMED.get(key, key)] = value
        stop = call.params.get("stop")
        if stop:
            inputs["stop_sequences"] = stop if isinstance(stop, str) else ",".join(stop)
        body: dict[str, Any] = {"input": inputs}
        if version:
            body["version"] = version
        headers = self._headers(call)
        if call.stream:
            body["stream"] = True
        else:
            headers["Prefer"] = "wait"
        if call.extra_body:
            body.update(call.extra_body)
        return HTTPRequest("POST", url, headers, body)

    def follow_up(self, call: Call, status: int, headers: dict[str, str],
                  body: bytes) -> FollowUp | None:
        """The request to send next after a prediction reply, or None when this reply is
        the answer (or an error): for a stream, the prediction's event stream; otherwise a
        look at the prediction while it is ``starting``/``processing``."""
        if status >= 400:
            return None
        data = decode_json(call, status, headers, body)
        urls = data.get("urls") if isinstance(data, dict) else None
        urls = urls if isinstance(urls, dict) else {}
        auth = {k: v for k, v in self._headers(call).items() if k != "Content-Type"}
        if call.stream:
            stream_url = urls.get("stream")
            if not isinstance(stream_url, str):
                raise APIError(f"replicate created no event stream for the prediction: "
                               f"{body_excerpt(body)}", llm_provider=call.provider,
                               model=call.model, status_code=status)
            return FollowUp(HTTPRequest("GET", stream_url,
                                        {**auth, "Accept": "text/event-stream"}, None))
        if data.get("status") not in _UNFINISHED:
            return None
        get_url = urls.get("get")
        if not isinstance(get_url, str):
            raise APIError(f"replicate's prediction has no URL to poll: {body_excerpt(body)}",
                           llm_provider=call.provider, model=call.model, status_code=status)
        return FollowUp(HTTPRequest("GET", get_url, auth, None), POLL_EVERY)

    def parse_response(self, call: Call, status: int, headers: dict[str, str],
                       body: bytes) -> Any:
        """A finished prediction as a chat completion; a failed or canceled one raises."""
        data = decode_json(call, status, headers, body)
        state = data.get("status") if isinstance(data, dict) else None
        if state != "succeeded":
            detail = data.get("error") if isinstance(data, dict) else None
            raise APIError(f"replicate prediction {state or 'without a status'}: "
                           f"{detail or body_excerpt(body)}", llm_provider=call.provider,
                           model=call.model, status_code=500, response_body=body_excerpt(body))
        output = data.get("output")
        if isinstance(output, list):
            text = "".join(str(piece) for piece in output if piece is not None)
        else:
            text = "" if output is None else str(output)
        return ModelResponse(
            id=str(data.get("id") or new_id()), model=call.model,
            choices=[Choices(index=0, finish_reason="stop",
                             message=Message(role="assistant", content=text))])

    def stream_decoder(self, call: Call) -> Any:
        from .stream import ReplicateStreamDecoder

        return ReplicateStreamDecoder(call)

    def map_error(self, call: Call, status: int, headers: dict[str, str],
                  body: bytes) -> LLMRelayError:
        return replicate_error(call, status, headers, body)
