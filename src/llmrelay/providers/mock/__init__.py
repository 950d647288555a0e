"""The built-in ``mock`` provider and ``mock_response=``: full calls with no network and no key.

``mock_response`` may be a string (the reply text; streamed word by word), a dict (a whole
response when it has ``choices``, else the assistant message), or an exception instance
(raised as that error, after the failure callbacks fire). ``mock/<anything>`` models reply
with :data:`DEFAULT_TEXT` when no ``mock_response`` is given.
"""

from __future__ import annotations

import zlib
from typing import Any

from ...exceptions import LLMRelayError
from ...types import (
    Choices,
    Delta,
    Embedding,
    EmbeddingResponse,
    Message,
    ModelResponse,
    ModelResponseStream,
    StreamingChoices,
    TextChoices,
    TextCompletionResponse,
    Usage,
    new_id,
)
from ..base import Call, HTTPRequest
from ..openai.translate import CHAT_PARAMS, EMBEDDING_PARAMS, TEXT_PARAMS
from ..registry import ProviderSpec

__all__ = ["DEFAULT_TEXT", "MockProvider", "create", "mock_chunks", "mock_result"]

DEFAULT_TEXT = "This is a mock response from llmrelay."


def _tokens(messages: Any = None, text: Any = None) -> int:
    from ...tokens import token_counter

    return token_counter(messages=messages, text=text)


def _raise_if_error(call: Call, mock: Any) -> None:
    if isinstance(mock, BaseException):
        if isinstance(mock, LLMRelayError):
            mock.llm_provider = mock.llm_provider or call.provider
            mock.model = mock.model or call.model
        raise mock


def _message(mock: Any) -> tuple[Message, str]:
    if isinstance(mock, dict):
        msg = Message(**{"role": "assistant", **mock})
        return msg, "tool_calls" if msg.tool_calls else "stop"
    text = DEFAULT_TEXT if mock is None else str(mock)
    return Message(content=text, role="assistant"), "stop"


def mock_result(call: Call, mock: Any) -> Any:
    """A complete response for ``call`` (chat, text completion or embedding)."""
    _raise_if_error(call, mock)
    if call.call_type == "embedding":
        items = call.input if isinstance(call.input, list) else [call.input]
        dim = int(call.params.get("dimensions") or 8)
        data = [Embedding(index=i, embedding=[zlib.crc32(f"{x}:{j}".encode()) % 1000 / 1000.0
                                              for j in range(dim)])
                for i, x in enumerate(items)]
        n = _tokens(text=[str(x) for x in items])
        return EmbeddingResponse(model=call.model, data=data,
                                 usage=Usage(prompt_tokens=n, total_tokens=n))
    if isinstance(mock, dict) and "choices" in mock:
        return ModelResponse(**{"model": call.model, **mock})
    if call.call_type == "text_completion":
        text = DEFAULT_TEXT if mock is None else str(mock)
        return TextCompletionResponse(
            model=call.model, choices=[TextChoices(text=text, index=0, finish_reason="stop")],
            usage=Usage(prompt_tokens=_tokens(text=str(call.input)),
                        completion_tokens=_tokens(text=text)))
    msg, finish = _message(mock)
    out_text = msg.content or "".join(tc.function.arguments for tc in msg.tool_calls or [])
    usage = Usage(prompt_tokens=_tokens(messages=call.messages),
                  completion_tokens=_tokens(text=out_text))
    return ModelResponse(model=call.model, choices=[Choices(index=0, message=msg,
                                                            finish_reason=finish)], usage=usage)


def mock_chunks(call: Call, mock: Any) -> list[ModelResponseStream]:
    """The chunks a streamed call yields: role, one chunk per word, finish, usage."""
    _raise_if_error(call, mock)
    full = mock_result(call, mock)
    cid = new_id()
    msg = full.choices[0].message

    def chunk(delta: dict[str, Any], finish: str | None = None) -> ModelResponseStream:
        return ModelResponseStream(id=cid, model=call.model, choices=[
            StreamingChoices(index=0, delta=Delta(**delta), finish_reason=finish)])

    chunks = [chunk({"role": "assistant", "content": ""})]
    text = msg.content or ""
    start = 0
    for i in range(1, len(text) + 1):  # words keep their leading space: "Hi", " there"
        if i == len(text) or (text[i] == " " and text[i - 1] != " "):
            chunks.append(chunk({"content": text[start:i]}))
            start = i
    for idx, tc in enumerate(msg.tool_calls or []):
        chunks.append(chunk({"tool_calls": [{"index": idx, "id": tc.id, "type": "function",
                                             "function": {"name": tc.function.name,
                                                          "arguments": tc.function.arguments}}]}))
    chunks.append(chunk({}, full.choices[0].finish_reason))
    usage_chunk = ModelResponseStream(id=cid, model=call.model, choices=[])
    usage_chunk.usage = full.usage
    chunks.append(usage_chunk)
    return chunks


class MockProvider:
    """Accepts every OpenAI parameter; builds the body an OpenAI server would get."""

    def __init__(self, spec: ProviderSpec) -> None:
        self.spec = spec

    def supported_params(self, call_type: str) -> frozenset[str]:
        if call_type == "embedding":
            return EMBEDDING_PARAMS
        return TEXT_PARAMS if call_type == "text_completion" else CHAT_PARAMS

    def build_request(self, call: Call) -> HTTPRequest:
        body: dict[str, Any] = {"model": call.model}
        if call.call_type == "completion":
            body["messages"] = call.messages
        else:
            body["prompt" if call.call_type == "text_completion" else "input"] = call.input
        body.update(call.params)
        if call.stream:
            body["stream"] = True
        if call.extra_body:
            body.update(call.extra_body)
        return HTTPRequest("POST", "mock://llmrelay", {}, body)


def create(spec: ProviderSpec) -> MockProvider:
    return MockProvider(spec)
