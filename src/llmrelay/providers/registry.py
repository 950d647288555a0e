"""Model string -> provider. OpenAI-compatible vendors are data rows, nothing more.

A model string is ``provider/model`` (``groq/llama-3.1-8b-instant``) or a bare name that the
price table or a well-known prefix attributes to a provider (``gpt-4o`` -> openai,
``claude-2`` -> anthropic). Adding an OpenAI-compatible vendor is one :class:`ProviderSpec`
row in ``_ROWS``; a new wire API is one folder under ``providers/`` with a ``create(spec)``.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..exceptions import BadRequestError

if TYPE_CHECKING:
    from .base import Provider

__all__ = ["ProviderSpec", "get_provider", "known_providers", "resolve_model", "spec_for"]


@dataclass(frozen=True)
class ProviderSpec:
    """One provider row.

    ``wire`` names the folder that speaks its API. ``key_env``/``base_env`` are tried in
    order. ``stream_usage`` says the server honours ``stream_options.include_usage``.
    """

    name: str
    wire: str
    base_url: str | None
    key_env: tuple[str, ...] = ()
    base_env: tuple[str, ...] = ()
    requires_key: bool = True
    stream_usage: bool = True
    embeddings: bool = True

    def env_key(self) -> str | None:
        for var in self.key_env:
            value = os.environ.get(var)
            if value:
                return value
        return None

    def env_base(self) -> str | None:
        for var in self.base_env:
            value = os.environ.get(var)
            if value:
                return value
        return None


_ROWS: tuple[ProviderSpec, ...] = (
    ProviderSpec(
        "openai", "openai", "https://api.openai.com/v1",
        ("OPENAI_API_KEY",), ("OPENAI_BASE_URL", "OPENAI_API_BASE"),
    ),
    ProviderSpec(
        "text-completion-openai", "openai", "https://api.openai.com/v1",
        ("OPENAI_API_KEY",), ("OPENAI_BASE_URL", "OPENAI_API_BASE"),
    ),
    ProviderSpec(
        "openai_like", "openai", None, ("OPENAI_LIKE_API_KEY",), ("OPENAI_LIKE_API_BASE",),
        requires_key=False,
    ),
    ProviderSpec("groq", "openai", "https://api.groq.com/openai/v1", ("GROQ_API_KEY",),
                 ("GROQ_API_BASE",)),
    ProviderSpec("together_ai", "openai", "https://api.together.xyz/v1",
                 ("TOGETHERAI_API_KEY", "TOGETHER_API_KEY", "TOGETHER_AI_API_KEY"),
                 ("TOGETHER_AI_API_BASE",)),
    ProviderSpec("deepseek", "openai", "https://api.deepseek.com/v1", ("DEEPSEEK_API_KEY",),
                 ("DEEPSEEK_API_BASE",), embeddings=False),
    ProviderSpec("mistral", "openai", "https://api.mistral.ai/v1", ("MISTRAL_API_KEY",),
                 ("MISTRAL_API_BASE",), stream_usage=False),
    ProviderSpec("openrouter", "openai", "https://openrouter.ai/api/v1",
                 ("OPENROUTER_API_KEY", "OR_API_KEY"), ("OPENROUTER_API_BASE",)),
    ProviderSpec("fireworks_ai", "openai", "https://api.fireworks.ai/inference/v1",
                 ("FIREWORKS_AI_API_KEY", "FIREWORKS_API_KEY"), ("FIREWORKS_AI_API_BASE",)),
    ProviderSpec("perplexity", "openai", "https://api.perplexity.ai",
                 ("PERPLEXITYAI_API_KEY", "PERPLEXITY_API_KEY"), ("PERPLEXITY_API_BASE",),
                 stream_usage=False, embeddings=False),
    ProviderSpec("xai", "openai", "https://api.x.ai/v1", ("XAI_API_KEY",), ("XAI_API_BASE",)),
    ProviderSpec("hosted_vllm", "openai", None, ("HOSTED_VLLM_API_KEY",),
                 ("HOSTED_VLLM_API_BASE",), requires_key=False),
    ProviderSpec("lm_studio", "openai", "http://localhost:1234/v1", ("LM_STUDIO_API_KEY",),
                 ("LM_STUDIO_API_BASE",), requires_key=False),
    ProviderSpec("ollama_chat", "openai", "http://localhost:11434/v1", ("OLLAMA_API_KEY",),
                 ("OLLAMA_API_BASE",), requires_key=False),
    ProviderSpec("anthropic", "anthropic", "https://api.anthropic.com", ("ANTHROPIC_API_KEY",),
                 ("ANTHROPIC_BASE_URL", "ANTHROPIC_API_BASE"), embeddings=False),
    ProviderSpec("azure", "azure", None, ("AZURE_API_KEY", "AZURE_OPENAI_API_KEY"),
                 ("AZURE_API_BASE", "AZURE_OPENAI_ENDPOINT")),
    ProviderSpec("gemini", "gemini", "https://generativelanguage.googleapis.com",
                 ("GEMINI_API_KEY", "GOOGLE_API_KEY"), ("GEMINI_API_BASE",)),
    ProviderSpec("ollama", "ollama", "http://localhost:11434", ("OLLAMA_API_KEY",),
                 ("OLLAMA_API_BASE",), requires_key=False),
    ProviderSpec("mock", "mock", None, requires_key=False),
)

_SPECS: dict[str, ProviderSpec] = {row.name: row for row in _ROWS}

# Bare-name prefixes used when the price table does not know a model.
_PREFIXES: tuple[tuple[str, str], ...] = (
    ("gpt-", "openai"),
    ("chatgpt-", "openai"),
    ("o1", "openai"),
    ("o3", "openai"),
    ("o4", "openai"),
    ("text-embedding-", "openai"),
    ("davinci", "text-completion-openai"),
    ("babbage", "text-completion-openai"),
    ("claude", "anthropic"),
    ("gemini-", "gemini"),
)


def known_providers() -> list[str]:
    return sorted(_SPECS)


def spec_for(name: str) -> ProviderSpec:
    try:
        return _SPECS[name]
    except KeyError:
        raise BadRequestError(
            f"unknown provider {name!r}; known providers: {', '.join(known_providers())}",
            llm_provider=name,
        ) from None


def resolve_model(model: str, custom_llm_provider: str | None = None) -> tuple[ProviderSpec, str]:
    """Split a model string into (provider row, provider's model name)."""
    if not isinstance(model, str) or not model.strip():
        raise BadRequestError("`model` is required: pass a model name such as 'gpt-4o-mini'")
    if custom_llm_provider:
        spec = spec_for(custom_llm_provider)
        prefix = spec.name + "/"
        return spec, model[len(prefix):] if model.startswith(prefix) else model
    head, sep, rest = model.partition("/")
    if sep and head in _SPECS:
        if not rest:
            raise BadRequestError(f"model {model!r} names a provider but no model after '/'")
        return _SPECS[head], rest
    from ..cost import provider_of  # the price table knows most bare names

    known = provider_of(model)
    if known is not None and known in _SPECS:
        return _SPECS[known], model
    for prefix, provider in _PREFIXES:
        if model.startswith(prefix):
            return _SPECS[provider], model
    if sep:
        raise BadRequestError(
            f"unknown provider prefix {head!r} in model {model!r}; known providers: "
            f"{', '.join(known_providers())}",
            model=model,
        )
    raise BadRequestError(
        f"cannot tell which provider serves model {model!r}: write it as 'provider/model' "
        f"(known providers: {', '.join(known_providers())})",
        model=model,
    )


_INSTANCES: dict[str, Provider] = {}


def get_provider(spec: ProviderSpec) -> Provider:
    """The translation object for a row; its module is imported on first use."""
    inst = _INSTANCES.get(spec.name)
    if inst is None:
        module = importlib.import_module(f"llmrelay.providers.{spec.wire}")
        inst = module.create(spec)
        _INSTANCES[spec.name] = inst
    return inst
