"""Model string -> provider. OpenAI-compatible vendors are data rows, nothing more.

A model string is ``provider/model`` (``groq/llama-3.1-8b-instant``) or a bare name that the
price table or a well-known prefix attributes to a provider (``gpt-4o`` -> openai,
``claude-2`` -> anthropic). Adding an OpenAI-compatible vendor is one :class:`ProviderSpec`
row in ``_ROWS``; a new wire API is one folder under ``providers/`` with a ``create(spec)``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._environ import getenv
from ..exceptions import BadRequestError

if TYPE_CHECKING:
    from .base import Provider

__all__ = ["BASE_CALL_TYPES", "ProviderSpec", "get_provider", "known_providers",
           "provider_for", "resolve_model", "set_custom_providers", "spec_for"]


@dataclass(frozen=True)
class ProviderSpec:
    """One provider row.

    ``wire`` names the folder that speaks its API. ``key_env``/``base_env`` are tried in
    order. ``stream_usage`` says the server honours ``stream_options.include_usage``.
    Quirks as data: ``renames`` maps OpenAI parameter names to the vendor's
    (``max_completion_tokens`` -> ``max_tokens`` for servers that only know the old name);
    ``route_prefixes`` are sub-routes of LiteLLM's model strings that name no model
    (``bedrock/converse/<id>``), stripped from the model name. ``surfaces``: the call
    types beyond chat, text and embeddings that the vendor's server offers on its wire
    (``image_generation``, ``transcription``, ``speech``, ``moderation``, ``rerank``,
    ``responses``); see :func:`provider_for`.
    """

    name: str
    wire: str
    base_url: str | None
    key_env: tuple[str, ...] = ()
    base_env: tuple[str, ...] = ()
    requires_key: bool = True
    stream_usage: bool = True
    embeddings: bool = True
    renames: tuple[tuple[str, str], ...] = ()
    route_prefixes: tuple[str, ...] = ()
    surfaces: frozenset[str] = frozenset()

    def env_key(self) -> str | None:
        for var in self.key_env:
            value = getenv(var)
            if value:
                return value
        return None

    def env_base(self) -> str | None:
        for var in self.base_env:
            value = getenv(var)
            if value:
                return value
        return None


_MAX_TOKENS = (("max_completion_tokens", "max_tokens"),)
# OpenAI's own endpoints beyond chat; self-hosted OpenAI-compatible servers (vLLM, a
# LiteLLM or llmrelay proxy ...) may offer any of the OpenAI-shaped ones
_OPENAI_SURFACES = frozenset({"image_generation", "transcription", "speech", "moderation",
                              "responses"})
_SELF_HOSTED = frozenset({"image_generation", "transcription", "speech", "moderation",
                          "rerank"})

_ROWS: tuple[ProviderSpec, ...] = (
    ProviderSpec(
        "openai", "openai", "https://api.openai.com/v1",
        ("OPENAI_API_KEY",), ("OPENAI_BASE_URL", "OPENAI_API_BASE"),
        surfaces=_OPENAI_SURFACES,
    ),
    ProviderSpec(
        "text-completion-openai", "openai", "https://api.openai.com/v1",
        ("OPENAI_API_KEY",), ("OPENAI_BASE_URL", "OPENAI_API_BASE"),
    ),
    ProviderSpec(
        "openai_like", "openai", None, ("OPENAI_LIKE_API_KEY",), ("OPENAI_LIKE_API_BASE",),
        requires_key=False, surfaces=_SELF_HOSTED,
    ),
    ProviderSpec("groq", "openai", "https://api.groq.com/openai/v1", ("GROQ_API_KEY",),
                 ("GROQ_API_BASE",), surfaces=frozenset({"transcription", "speech"})),
    ProviderSpec("together_ai", "openai", "https://api.together.xyz/v1",
                 ("TOGETHERAI_API_KEY", "TOGETHER_API_KEY", "TOGETHER_AI_API_KEY"),
                 ("TOGETHER_AI_API_BASE",),
                 surfaces=frozenset({"image_generation", "rerank"})),
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
    ProviderSpec("xai", "openai", "https://api.x.ai/v1", ("XAI_API_KEY",), ("XAI_API_BASE",),
                 surfaces=frozenset({"image_generation"})),
    ProviderSpec("hosted_vllm", "openai", None, ("HOSTED_VLLM_API_KEY",),
                 ("HOSTED_VLLM_API_BASE",), requires_key=False, surfaces=_SELF_HOSTED),
    ProviderSpec("lm_studio", "openai", "http://localhost:1234/v1", ("LM_STUDIO_API_KEY",),
                 ("LM_STUDIO_API_BASE",), requires_key=False),
    ProviderSpec("ollama_chat", "openai", "http://localhost:11434/v1", ("OLLAMA_API_KEY",),
                 ("OLLAMA_API_BASE",), requires_key=False),
    ProviderSpec("anthropic", "anthropic", "https://api.anthropic.com", ("ANTHROPIC_API_KEY",),
                 ("ANTHROPIC_BASE_URL", "ANTHROPIC_API_BASE"), embeddings=False),
    ProviderSpec("azure", "azure", None, ("AZURE_API_KEY", "AZURE_OPENAI_API_KEY"),
                 ("AZURE_API_BASE", "AZURE_OPENAI_ENDPOINT"),
                 surfaces=frozenset({"image_generation", "transcription", "speech",
                                     "responses"})),
    ProviderSpec("gemini", "gemini", "https://generativelanguage.googleapis.com",
                 ("GEMINI_API_KEY", "GOOGLE_API_KEY"), ("GEMINI_API_BASE",)),
    ProviderSpec("ollama", "ollama", "http://localhost:11434", ("OLLAMA_API_KEY",),
                 ("OLLAMA_API_BASE",), requires_key=False),
    ProviderSpec("bedrock", "bedrock", None, ("AWS_BEARER_TOKEN_BEDROCK",),
                 ("AWS_BEDROCK_RUNTIME_ENDPOINT",), requires_key=False,
                 route_prefixes=("converse/", "invoke/")),
    ProviderSpec("vertex_ai", "vertex_ai", None, (), ("VERTEXAI_API_BASE",),
                 requires_key=False),
    ProviderSpec("cohere", "cohere", "https://api.cohere.com", ("COHERE_API_KEY", "CO_API_KEY"),
                 ("COHERE_API_BASE",)),
    ProviderSpec("cohere_chat", "cohere", "https://api.cohere.com",
                 ("COHERE_API_KEY", "CO_API_KEY"), ("COHERE_API_BASE",)),
    ProviderSpec("mock", "mock", None, requires_key=False),
    ProviderSpec("replicate", "replicate", "https://api.replicate.com/v1",
                 ("REPLICATE_API_KEY", "REPLICATE_API_TOKEN"), ("REPLICATE_API_BASE",),
                 stream_usage=False, embeddings=False),
    ProviderSpec("predibase", "predibase", None, ("PREDIBASE_API_KEY", "PREDIBASE_API_TOKEN"),
                 ("PREDIBASE_API_BASE",), embeddings=False),
    # IBM watsonx.ai: an IBM Cloud API key exchanged for IAM tokens (or a token as is)
    ProviderSpec("watsonx", "watsonx", None,
                 ("WATSONX_APIKEY", "WATSONX_API_KEY", "WX_API_KEY"),
                 ("WATSONX_URL", "WATSONX_API_BASE", "WX_URL", "WML_URL"), requires_key=False),
    # ---- OpenAI-compatible vendors: one row each (base URL and key variable as LiteLLM
    # names them) -------------------------------------------------------------------------
    ProviderSpec("cerebras", "openai", "https://api.cerebras.ai/v1", ("CEREBRAS_API_KEY",),
                 ("CEREBRAS_API_BASE",), embeddings=False, renames=_MAX_TOKENS),
    ProviderSpec("sambanova", "openai", "https://api.sambanova.ai/v1", ("SAMBANOVA_API_KEY",),
                 ("SAMBANOVA_API_BASE",), renames=_MAX_TOKENS),
    ProviderSpec("nebius", "openai", "https://api.studio.nebius.ai/v1", ("NEBIUS_API_KEY",),
                 ("NEBIUS_API_BASE",)),
    ProviderSpec("novita", "openai", "https://api.novita.ai/v3/openai", ("NOVITA_API_KEY",),
                 ("NOVITA_API_BASE",)),
    ProviderSpec("deepinfra", "openai", "https://api.deepinfra.com/v1/openai",
                 ("DEEPINFRA_API_KEY",), ("DEEPINFRA_API_BASE",)),
    ProviderSpec("hyperbolic", "openai", "https://api.hyperbolic.xyz/v1",
                 ("HYPERBOLIC_API_KEY",), ("HYPERBOLIC_API_BASE",), embeddings=False),
    ProviderSpec("lambda_ai", "openai", "https://api.lambda.ai/v1", ("LAMBDA_API_KEY",),
                 ("LAMBDA_API_BASE",), embeddings=False),
    ProviderSpec("baseten", "openai", "https://inference.baseten.co/v1", ("BASETEN_API_KEY",),
                 ("BASETEN_API_BASE",), embeddings=False),
    ProviderSpec("featherless_ai", "openai", "https://api.featherless.ai/v1",
                 ("FEATHERLESS_AI_API_KEY", "FEATHERLESS_API_KEY"),
                 ("FEATHERLESS_AI_API_BASE",), embeddings=False, renames=_MAX_TOKENS),
    ProviderSpec("nscale", "openai", "https://inference.api.nscale.com/v1",
                 ("NSCALE_API_KEY",), ("NSCALE_API_BASE",)),
    ProviderSpec("ovhcloud", "openai", "https://oai.endpoints.kepler.ai.cloud.ovh.net/v1",
                 ("OVHCLOUD_API_KEY",), ("OVHCLOUD_API_BASE",)),
    ProviderSpec("scaleway", "openai", "https://api.scaleway.ai/v1", ("SCW_SECRET_KEY",),
                 ("SCW_API_BASE",)),
    ProviderSpec("moonshot", "openai", "https://api.moonshot.ai/v1", ("MOONSHOT_API_KEY",),
                 ("MOONSHOT_API_BASE",), embeddings=False, renames=_MAX_TOKENS),
    ProviderSpec("zai", "openai", "https://api.z.ai/api/paas/v4", ("ZAI_API_KEY",),
                 ("ZAI_API_BASE",), embeddings=False),
    ProviderSpec("dashscope", "openai", "https://dashscope.aliyuncs.com/compatible-mode/v1",
                 ("DASHSCOPE_API_KEY",), ("DASHSCOPE_API_BASE",)),
    ProviderSpec("volcengine", "openai", "https://ark.cn-beijing.volces.com/api/v3",
                 ("VOLCENGINE_API_KEY", "ARK_API_KEY"), ("VOLCENGINE_API_BASE",)),
    ProviderSpec("github", "openai", "https://models.inference.ai.azure.com",
                 ("GITHUB_API_KEY",), ("GITHUB_API_BASE",)),
    ProviderSpec("huggingface", "openai", "https://router.huggingface.co/v1",
                 ("HF_TOKEN", "HUGGINGFACE_API_KEY"), ("HF_API_BASE", "HUGGINGFACE_API_BASE"),
                 embeddings=False),
    ProviderSpec("azure_ai", "openai", None, ("AZURE_AI_API_KEY",), ("AZURE_AI_API_BASE",)),
    ProviderSpec("databricks", "openai", None, ("DATABRICKS_API_KEY",),
                 ("DATABRICKS_API_BASE",), stream_usage=False),
    ProviderSpec("nvidia_nim", "openai", "https://integrate.api.nvidia.com/v1",
                 ("NVIDIA_NIM_API_KEY",), ("NVIDIA_NIM_API_BASE",)),
    ProviderSpec("codestral", "openai", "https://codestral.mistral.ai/v1",
                 ("CODESTRAL_API_KEY",), ("CODESTRAL_API_BASE",), stream_usage=False,
                 embeddings=False),
    ProviderSpec("meta_llama", "openai", "https://api.llama.com/compat/v1", ("LLAMA_API_KEY",),
                 ("LLAMA_API_BASE",), embeddings=False),
    ProviderSpec("ai21_chat", "openai", "https://api.ai21.com/studio/v1", ("AI21_API_KEY",),
                 ("AI21_API_BASE",), embeddings=False),
    ProviderSpec("friendliai", "openai", "https://api.friendli.ai/serverless/v1",
                 ("FRIENDLIAI_API_KEY", "FRIENDLI_TOKEN"), ("FRIENDLI_API_BASE",),
                 embeddings=False),
    ProviderSpec("jina_ai", "openai", "https://api.jina.ai/v1", ("JINA_AI_API_KEY",),
                 ("JINA_AI_API_BASE",), surfaces=frozenset({"rerank"})),
    ProviderSpec("voyage", "openai", "https://api.voyageai.com/v1", ("VOYAGE_API_KEY",),
                 ("VOYAGE_API_BASE",)),
    ProviderSpec("llamafile", "openai", "http://127.0.0.1:8080/v1", ("LLAMAFILE_API_KEY",),
                 ("LLAMAFILE_API_BASE",), requires_key=False),
    ProviderSpec("litellm_proxy", "openai", None, ("LITELLM_PROXY_API_KEY",),
                 ("LITELLM_PROXY_API_BASE",), requires_key=False,
                 surfaces=_SELF_HOSTED | {"responses"}),
)

_SPECS: dict[str, ProviderSpec] = {row.name: row for row in _ROWS}
# LiteLLM's other names for a provider llmrelay serves: "vertex_ai_beta/gemini-..." is
# Gemini on Vertex AI, served (and priced) as "vertex_ai/gemini-...".
_SPECS["vertex_ai_beta"] = _SPECS["vertex_ai"]

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
    return sorted({*_SPECS, *_CUSTOM})


# Providers registered at run time: a Python handler per name (``custom_provider_map``).
_CUSTOM: dict[str, ProviderSpec] = {}


def set_custom_providers(entries: Any) -> None:
    """Replace the run-time providers with ``entries``, LiteLLM's ``custom_provider_map``:
    ``[{"provider": "<name>", "custom_handler": <CustomLLM>}, ...]``. A name may shadow a
    built-in provider (the handler then serves it). Raises ``ValueError`` naming a bad
    entry; nothing changes then."""
    from .custom import create

    found: dict[str, tuple[ProviderSpec, Any]] = {}
    for i, entry in enumerate(entries or ()):
        name = entry.get("provider") if isinstance(entry, dict) else None
        handler = entry.get("custom_handler") if isinstance(entry, dict) else None
        if not isinstance(name, str) or not name or "/" in name or handler is None:
            raise ValueError(f"custom_provider_map[{i}] must be {{'provider': '<name>', "
                             f"'custom_handler': <a CustomLLM instance>}}, got {entry!r}")
        spec = ProviderSpec(name, "custom", None, requires_key=False)
        found[name] = (spec, create(spec, handler))
    for name in (*_CUSTOM, *found):  # forget what was cached for the old and new names
        _INSTANCES.pop(name, None)
        for key in [k for k in _SERVING if k[0] == name]:
            _SERVING.pop(key, None)
    _CUSTOM.clear()
    for name, (spec, provider) in found.items():
        _CUSTOM[name] = spec
        _INSTANCES[name] = provider


def spec_for(name: str) -> ProviderSpec:
    custom = _CUSTOM.get(name)
    if custom is not None:
        return custom
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
    if sep and head in _CUSTOM and rest:
        return _CUSTOM[head], rest
    if sep and head in _SPECS:
        spec = _SPECS[head]
        for route in spec.route_prefixes:
            if rest.startswith(route):
                rest = rest[len(route):]
        if not rest:
            raise BadRequestError(f"model {model!r} names a provider but no model after '/'")
        return spec, rest
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
_SERVING: dict[tuple[str, str], Any] = {}
# The call types every wire answers itself (or refuses in its own build_request).
BASE_CALL_TYPES = frozenset({"completion", "text_completion", "embedding"})


def get_provider(spec: ProviderSpec) -> Provider:
    """The translation object for a row; its module is imported on first use."""
    inst = _INSTANCES.get(spec.name)
    if inst is None:
        module = importlib.import_module(f"llmrelay.providers.{spec.wire}")
        inst = module.create(spec)
        _INSTANCES[spec.name] = inst
    return inst


def provider_for(spec: ProviderSpec, kind: Any) -> Any:
    """The translation serving call type ``kind`` (a declared call type: ``name``,
    ``params``, ``bridge``) on ``spec``'s wire: the wire itself for chat, text and
    embeddings; for another call type the object the wire's ``surface(call_type)`` gives
    (its own endpoint for it), else the call type's bridge over the wire's chat API (e.g.
    the Responses API answered through chat completions), else one that refuses the call
    with a BadRequestError naming the provider. Cached per (provider, call type)."""
    name = kind.name
    if name in BASE_CALL_TYPES:
        return get_provider(spec)
    found = _SERVING.get((spec.name, name))
    if found is None:
        inst = get_provider(spec)
        surface = getattr(inst, "surface", None)
        found = surface(name) if surface is not None else None
        if found is None and kind.bridge:
            found = importlib.import_module(kind.bridge).create(inst)
        if found is None:
            found = _Unserved(spec, name, kind.params)
        _SERVING[(spec.name, name)] = found
    return found


class _Unserved:
    """A provider with no API for a call type: it refuses before any network I/O."""

    def __init__(self, spec: ProviderSpec, call_type: str, params: frozenset[str]) -> None:
        self.spec = spec
        self.call_type = call_type
        self.params = params

    def supported_params(self, call_type: str) -> frozenset[str]:
        return self.params  # the refusal below names the real problem

    def build_request(self, call: Any) -> Any:
        raise BadRequestError(f"provider {self.spec.name!r} offers no {self.call_type} API "
                              f"llmrelay can call (model {call.model!r})",
                              llm_provider=self.spec.name, model=call.model)

    def parse_response(self, call: Any, status: int, headers: dict[str, str],
                       body: bytes) -> Any:
        raise self.build_request(call)

    def stream_decoder(self, call: Any) -> Any:
        raise self.build_request(call)

    def map_error(self, call: Any, status: int, headers: dict[str, str], body: bytes) -> Any:
        from .base import error_from_reply

        return error_from_reply(call, status, headers, body)
