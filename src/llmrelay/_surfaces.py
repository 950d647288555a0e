"""The call-type rows of the surfaces beyond chat, text and embeddings: images, audio,
moderation, rerank, Anthropic's Messages API and OpenAI's Responses API.

Each row says what the call requires, how it is priced (:mod:`llmrelay.cost_units` for
the ones billed per image, second, character or search unit), which parameters carry
prompt text, whether its answers are cached, and how a stream becomes one response.
"""

from __future__ import annotations

from typing import Any

from ._calltypes import CallType, register_call_type
from ._responses_state import layer as responses_layer
from ._uploads import read_upload
from .cost_units import unit_cost
from .providers.base import (
    ANTHROPIC_MESSAGES_PARAMS,
    IMAGE_PARAMS,
    MODERATION_PARAMS,
    RERANK_PARAMS,
    RESPONSES_PARAMS,
    SPEECH_PARAMS,
    TRANSCRIPTION_PARAMS,
)
from .types.anthropic_messages import AnthropicMessagesResponse, assemble_message
from .types.media import (
    HttpxBinaryResponseContent,
    ImageResponse,
    OpenAIModerationResponse,
    RerankResponse,
    TranscriptionResponse,
)
from .types.responses_api import ResponsesAPIResponse, assemble_response

__all__ = ["ANTHROPIC_MESSAGES", "IMAGE_GENERATION", "MODERATION", "RERANK", "RESPONSES",
           "SPEECH", "TRANSCRIPTION"]


def _pricer(kind: str) -> Any:
    def price(call: Any, response: Any, prices: Any) -> float | None:
        return unit_cost(kind, call.model, call.provider, response, params=call.params,
                         input=call.input, prices=prices)
    return price


def _audio_bytes(chunks: list[Any], messages: Any) -> Any:
    """A streamed speech reply: the audio bytes as one binary response."""
    data = b"".join(bytes(c) for c in chunks if isinstance(c, (bytes, bytearray)))
    return HttpxBinaryResponseContent(data)


IMAGE_GENERATION = register_call_type(CallType(
    "image_generation", "prompt", params=IMAGE_PARAMS, price=_pricer("image_generation"),
    cache=False, response_type=ImageResponse))
TRANSCRIPTION = register_call_type(CallType(
    "transcription", "file", params=TRANSCRIPTION_PARAMS, price=_pricer("transcription"),
    prompt_params=frozenset({"prompt"}), response_type=TranscriptionResponse,
    convert=read_upload))
SPEECH = register_call_type(CallType(
    "speech", "input", _audio_bytes, SPEECH_PARAMS, price=_pricer("speech"),
    prompt_params=frozenset({"instructions"}), cache=False, stream_cost=True))
MODERATION = register_call_type(CallType(
    "moderation", "input", params=MODERATION_PARAMS, response_type=OpenAIModerationResponse))
RERANK = register_call_type(CallType(
    "rerank", "query", params=RERANK_PARAMS, price=_pricer("rerank"),
    prompt_params=frozenset({"documents"}), response_type=RerankResponse))

# Anthropic's Messages API: native on Anthropic's wire, through chat everywhere else.
ANTHROPIC_MESSAGES = register_call_type(CallType(
    "anthropic_messages", "messages", assemble_message, ANTHROPIC_MESSAGES_PARAMS,
    prompt_params=frozenset({"system"}), bridge="llmrelay.providers.bridges.messages_chat",
    response_type=AnthropicMessagesResponse, stream_cost=True))

# OpenAI's Responses API: native on OpenAI and Azure, through chat everywhere else, with
# the conversation state kept by its layer (not cached: a response is a stored turn).
RESPONSES = register_call_type(CallType(
    "responses", "input", assemble_response, RESPONSES_PARAMS,
    prompt_params=frozenset({"instructions"}), bridge="llmrelay.providers.bridges.responses_chat",
    cache=False, response_type=ResponsesAPIResponse, stream_cost=True, layer=responses_layer))
