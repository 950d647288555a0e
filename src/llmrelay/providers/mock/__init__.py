"""The built-in ``mock`` provider and ``mock_response=``: full calls with no network and no key.

``mock_response`` may be a string (the reply text; streamed word by word), a dict (a whole
response when it has ``choices``, else the assistant message), or an exception instance
(raised after the failure callbacks fire: an llmrelay error as it is, any other exception
mapped as a provider's error would be, with the original chained; LiteLLM's
``"Exception: content_filter_policy"`` string raises a content-policy error). ``mock/<anything>`` models reply
with :data:`DEFAULT_TEXT` when no ``mock_response`` is given.
"""

from __future__ import annotations

import json
import random
import zlib
from typing import Any

from ...exceptions import BadRequestError, LLMRelayError
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
    ToolCall,
    Usage,
    new_id,
)
from ..base import (
    SURFACE_PARAMS,
    Call,
    HTTPRequest,
    embedding_format,
    encode_vector,
    error_from_exception,
)
from ..openai.translate import CHAT_PARAMS, EMBEDDING_PARAMS, TEXT_PARAMS
from ..registry import ProviderSpec
from .bridged import BRIDGES, bridged_chunks, bridged_result
from .prompt_schema import schema_in_messages
from .schema import sample
from .surfaces import SURFACE_MOCKS, mock_surface, mock_surface_chunks

__all__ = ["DEFAULT_TEXT", "MockProvider", "create", "mock_chunks", "mock_result"]

DEFAULT_TEXT = "This is a mock response from llmrelay."


def _tokens(messages: Any = None, text: Any = None) -> int:
    from ...tokens import token_counter

    return token_counter(messages=messages, text=text)


def _mapped(call: Call, exc: BaseException) -> LLMRelayError:
    """A plain exception given as ``mock_response`` as the error a provider call would
    raise (see :func:`..base.error_from_exception`), the original chained."""
    err = error_from_exception(call, exc)
    err.__cause__ = exc
    return err


def _raise_if_error(call: Call, mock: Any) -> None:
    if isinstance(mock, str) and mock.startswith(("llmrelay.", "litellm.")):
        from ... import exceptions

        cls = getattr(exceptions, mock.partition(".")[2], None)
        if isinstance(cls, type) and issubclass(cls, LLMRelayError):
            raise cls(f"mock {cls.__name__} (mock_response={mock!r})",
                      llm_provider=call.provider, model=call.model)
    if isinstance(mock, str) and mock.startswith("Exception: "):  # LiteLLM's mock errors
        raise _mapped(call, Exception(mock))
    if isinstance(mock, BaseException):
        if isinstance(mock, LLMRelayError):
            mock.llm_provider = mock.llm_provider or call.provider
            mock.model = mock.model or call.model
            raise mock
        if isinstance(mock, Exception):
            raise _mapped(call, mock)
        raise mock


def _message(mock: Any, tool_calls: list[Any] | None) -> tuple[Message, str]:
    if isinstance(mock, dict):
        msg = Message(**{"role": "assistant", **mock})
    else:
        msg = Message(content=DEFAULT_TEXT if mock is None else str(mock), role="assistant")
    if tool_calls:
        msg.tool_calls = [ToolCall(**tc) if isinstance(tc, dict) else tc for tc in tool_calls]
    return msg, "tool_calls" if msg.tool_calls else "stop"


def _rng(call: Call, index: int) -> random.Random:
    """Deterministic per request, ``seed`` and choice: the same call gives the same reply."""
    digest = zlib.crc32(json.dumps([call.model, call.messages, call.params.get("tools"),
                                    call.params.get("response_format")],
                                   sort_keys=True, default=str).encode())
    return random.Random(f"{call.params.get('seed')}:{digest}:{index}")


def _tool_to_call(call: Call) -> dict[str, Any] | None:
    """The tool the model "decides" to call: the one ``tool_choice`` names, the first one
    for ``"required"``, and for ``"auto"`` (or unset) the first one while the conversation
    ends with the user (after a tool result, the model answers in text)."""
    tools = [t for t in call.params.get("tools") or []
             if isinstance(t, dict) and isinstance(t.get("function"), dict)]
    choice = call.params.get("tool_choice")
    if not tools or choice == "none":
        return None
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name")
        found: dict[str, Any] = next(
            (t["function"] for t in tools if t["function"].get("name") == name),
            tools[0]["function"])
        return found
    last = (call.messages or [{}])[-1]
    if choice == "required" or last.get("role") == "user":
        return dict(tools[0]["function"])
    return None


def _generated(call: Call, index: int) -> tuple[Message, str]:
    """The reply of a model that follows the request: a schema-valid tool call when a
    tool is to be called, JSON for ``response_format`` (in ``json_object`` mode valid
    against the schema the messages state, if they state one), else :data:`DEFAULT_TEXT`."""
    rng = _rng(call, index)
    fn = _tool_to_call(call)
    if fn is not None:
        args = json.dumps(sample(fn.get("parameters") or {"type": "object"}, rng))
        tc = ToolCall(id=f"call_{rng.getrandbits(64):016x}", type="function",
                      function={"name": fn.get("name"), "arguments": args})
        return Message(role="assistant", content=None, tool_calls=[tc]), "tool_calls"
    fmt = call.params.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        spec = fmt.get("json_schema") or {}
        text = json.dumps(sample(spec.get("schema") or {}, rng))
        return Message(role="assistant", content=text), "stop"
    if isinstance(fmt, dict) and fmt.get("type") == "json_object":
        # JSON mode: the schema the prompt states (instructor, LangChain), if any
        stated = schema_in_messages(call.messages)
        value = sample(stated, rng) if stated is not None else {"response": DEFAULT_TEXT}
        return Message(role="assistant", content=json.dumps(value)), "stop"
    return Message(role="assistant", content=DEFAULT_TEXT), "stop"


_MAX_VALUES = 1 << 20  # inputs x dimensions: keeps one mock call to milliseconds


def _vector(item: Any, dim: int) -> list[float]:
    """A deterministic vector for ``item``: one hash per input, cheap arithmetic per value
    (a proxy serving the mock must not spend seconds on 2,048 inputs)."""
    seed = zlib.crc32(repr(item).encode("utf-8", "surrogatepass"))
    return [((seed * (j + 1) * 2654435761) >> 7) % 1000 / 1000.0 for j in range(dim)]


def _embedding(call: Call) -> EmbeddingResponse:
    items = call.input if isinstance(call.input, list) else [call.input]
    dim = int(call.params.get("dimensions") or 8)
    if len(items) * dim > _MAX_VALUES:
        raise BadRequestError(f"the mock provider makes at most {_MAX_VALUES} embedding "
                              f"values per call ({len(items)} inputs x {dim} dimensions "
                              f"asked)", llm_provider=call.provider, model=call.model,
                              param="dimensions")
    fmt = embedding_format(call)
    data = [Embedding(index=i, embedding=encode_vector(_vector(x, dim), fmt))
            for i, x in enumerate(items)]
    # token ids count as themselves; text through the tokenizer
    n = sum(len(x) if isinstance(x, list) else 0 for x in items) + _tokens(
        text=[x for x in items if not isinstance(x, list)] or "")
    return EmbeddingResponse(model=call.model, data=data,
                             usage=Usage(prompt_tokens=n, total_tokens=n))


def mock_result(call: Call, mock: Any, tool_calls: list[Any] | None = None) -> Any:
    """A complete response for ``call`` (chat, text completion or embedding); ``n`` copies
    of the choice when ``n`` is set."""
    _raise_if_error(call, mock)
    if call.call_type in SURFACE_MOCKS:
        return mock_surface(call, mock)
    if call.call_type in BRIDGES:
        return bridged_result(call, mock, tool_calls)
    if call.call_type == "embedding":
        return _embedding(call)
    if isinstance(mock, ModelResponse):
        if mock.model is None:
            mock.model = call.model
        return mock
    if isinstance(mock, dict) and "choices" in mock:
        return ModelResponse(**{"model": call.model, **mock})
    n = max(1, int(call.params.get("n") or 1))
    if call.call_type == "text_completion":
        text = DEFAULT_TEXT if mock is None else str(mock)
        return TextCompletionResponse(
            model=call.model,
            choices=[TextChoices(text=text, index=i, finish_reason="stop") for i in range(n)],
            usage=Usage(prompt_tokens=_tokens(text=str(call.input)),
                        completion_tokens=_tokens(text=text) * n))
    if mock is None and not tool_calls:
        replies = [_generated(call, i) for i in range(n)]
    else:
        msg, finish = _message(mock, tool_calls)
        replies = [(msg if i == 0 else Message(**msg.model_dump()), finish) for i in range(n)]
    out = 0
    for msg, _ in replies:
        out += _tokens(text=msg.content or "".join(
            tc.function.arguments for tc in msg.tool_calls or []))
    usage = Usage(prompt_tokens=_tokens(messages=call.messages), completion_tokens=out)
    choices = [Choices(index=i, message=msg, finish_reason=finish)
               for i, (msg, finish) in enumerate(replies)]
    return ModelResponse(model=call.model, choices=choices, usage=usage)


def _words(text: str) -> list[str]:
    """``"Hi there"`` -> ``["Hi", " there"]``: words keep their leading space."""
    out, start = [], 0
    for i in range(1, len(text) + 1):
        if i == len(text) or (text[i] == " " and text[i - 1] != " "):
            out.append(text[start:i])
            start = i
    return out


def _text_chunks(call: Call, full: TextCompletionResponse) -> list[Any]:
    cid = full.id

    def chunk(text: str, finish: str | None = None) -> TextCompletionResponse:
        c = TextCompletionResponse(id=cid, model=call.model, choices=[
            TextChoices(text=text, index=0, finish_reason=finish)])
        c.__dict__["usage"] = None
        return c

    chunks = [chunk(w) for w in _words(full.choices[0].text)]
    last = chunk("", "stop")
    last.__dict__["usage"] = full.usage
    return [*chunks, last]


def mock_chunks(call: Call, mock: Any, tool_calls: list[Any] | None = None) -> list[Any]:
    """The chunks a streamed call yields: role, one chunk per word, finish, usage."""
    _raise_if_error(call, mock)
    if call.call_type in SURFACE_MOCKS:
        return mock_surface_chunks(call, mock)
    if call.call_type in BRIDGES:
        return bridged_chunks(call, mock, tool_calls)
    full = mock_result(call, mock, tool_calls)
    if call.call_type == "text_completion":
        return _text_chunks(call, full)
    cid = new_id()

    def chunk(i: int, delta: dict[str, Any], finish: str | None = None) -> ModelResponseStream:
        return ModelResponseStream(id=cid, model=call.model, choices=[
            StreamingChoices(index=i, delta=Delta(**delta), finish_reason=finish)])

    chunks: list[Any] = []
    for i, choice in enumerate(full.choices):  # every choice of n, one after the other
        msg = choice.message
        chunks.append(chunk(i, {"role": "assistant", "content": ""}))
        chunks += [chunk(i, {"content": w}) for w in _words(msg.content or "")]
        for idx, tc in enumerate(msg.tool_calls or []):
            chunks.append(chunk(i, {"tool_calls": [{
                "index": idx, "id": tc.id, "type": "function",
                "function": {"name": tc.function.name, "arguments": tc.function.arguments}}]}))
        chunks.append(chunk(i, {}, choice.finish_reason))
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

    def surface(self, call_type: str) -> Any:
        """The mock answers every call type itself (see :mod:`.surfaces`)."""
        return MockSurface(self.spec, SURFACE_PARAMS.get(call_type, frozenset()))

    def build_request(self, call: Call) -> HTTPRequest:
        body: dict[str, Any] = {"model": call.model}
        if call.call_type in ("completion", "anthropic_messages"):
            body["messages"] = call.messages
        else:
            body["prompt" if call.call_type in ("text_completion", "image_generation")
                 else "input"] = getattr(call.input, "model_dump", lambda: call.input)()
        body.update(call.params)
        if call.stream:
            body["stream"] = True
        if call.extra_body:
            body.update(call.extra_body)
        return HTTPRequest("POST", "mock://llmrelay", {}, body)


def create(spec: ProviderSpec) -> MockProvider:
    return MockProvider(spec)


class MockSurface(MockProvider):
    """The mock provider for one call type beyond chat, text and embeddings."""

    def __init__(self, spec: ProviderSpec, params: frozenset[str]) -> None:
        super().__init__(spec)
        self.params = params

    def supported_params(self, call_type: str) -> frozenset[str]:
        return self.params
