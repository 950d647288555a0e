"""Whether the environment can reach a provider: LiteLLM's helper names.

``validate_environment(model)`` says which of the provider's environment variables a call
would need and cannot find; ``check_valid_key(model, api_key)`` makes one tiny call to see
whether a key works; ``get_valid_models()`` lists the models of the price table whose
provider has a key in the environment; ``get_secret(name)`` reads a setting the way config
values are read (``os.environ/NAME`` or a plain variable name).
"""

from __future__ import annotations

import logging
import os
from typing import Any

from .exceptions import LLMRelayError

__all__ = ["check_valid_key", "get_secret", "get_valid_models", "validate_environment"]

log = logging.getLogger("llmrelay")

# Providers whose credentials do not come from one key variable (credential chains)
_AWS_ALTERNATIVES = ("AWS_PROFILE", "AWS_BEARER_TOKEN_BEDROCK", "AWS_WEB_IDENTITY_TOKEN_FILE",
                     "AWS_ROLE_ARN", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
_VERTEX_PROJECT = ("VERTEXAI_PROJECT", "VERTEX_PROJECT", "GOOGLE_CLOUD_PROJECT")
_VERTEX_LOCATION = ("VERTEXAI_LOCATION", "VERTEX_LOCATION")


def _set(names: tuple[str, ...]) -> bool:
    return any(os.environ.get(n) for n in names)


def _missing(spec: Any, api_key: str | None, api_base: str | None) -> list[str]:
    """The environment variables a call to ``spec``'s provider lacks (where any of several
    would do, the first of them is named)."""
    missing: list[str] = []
    if spec.wire == "bedrock":
        if not api_key and not _set(("AWS_ACCESS_KEY_ID",)) and not _set(_AWS_ALTERNATIVES):
            missing += ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]
        elif _set(("AWS_ACCESS_KEY_ID",)) and not _set(("AWS_SECRET_ACCESS_KEY",)):
            missing.append("AWS_SECRET_ACCESS_KEY")
        return missing
    if spec.wire == "vertex_ai":
        if not _set(_VERTEX_PROJECT):
            missing.append("VERTEXAI_PROJECT")
        if not _set(_VERTEX_LOCATION):
            missing.append("VERTEXAI_LOCATION")
        return missing
    # (Azure's api_version has a default: the newest generally-available version)
    if spec.base_url is None and spec.base_env and not api_base and not spec.env_base():
        missing.append(spec.base_env[0])
    if spec.requires_key and spec.key_env and not api_key and not spec.env_key():
        missing.append(spec.key_env[0])
    return missing


def validate_environment(model: str | None = None, api_key: str | None = None,
                         api_base: str | None = None,
                         api_version: str | None = None) -> dict[str, Any]:
    """``{"keys_in_environment": bool, "missing_keys": [...]}`` for a call to ``model``:
    the provider's key and base URL variables a call would need and cannot find (a key
    or base given here counts as found; ``api_version`` is accepted for LiteLLM's
    signature: Azure's has a default). No model: nothing to check (False, []); a model no
    provider serves: (False, []) with the reason logged."""
    from .providers.registry import resolve_model

    if not model:
        return {"keys_in_environment": False, "missing_keys": []}
    try:
        spec, _ = resolve_model(model)
    except LLMRelayError as exc:
        log.warning("llmrelay: validate_environment(%r): %s", model, exc)
        return {"keys_in_environment": False, "missing_keys": []}
    missing = _missing(spec, api_key, api_base)
    return {"keys_in_environment": not missing, "missing_keys": missing}


def check_valid_key(model: str, api_key: str) -> bool:
    """Whether ``api_key`` works for ``model``: one call with a one-word prompt and
    ``max_tokens=10``; any error (a refused key, an unreachable provider) is False."""
    import llmrelay

    try:
        llmrelay.completion(model=model, messages=[{"role": "user", "content": "Hey"}],
                            api_key=api_key, max_tokens=10)
    except Exception as exc:  # the answer is the boolean; the reason goes to the log
        log.debug("llmrelay: check_valid_key(%r): %s: %s", model, type(exc).__name__, exc)
        return False
    return True


def get_secret(secret_name: str, default_value: Any = None) -> Any:
    """The value of environment variable ``secret_name`` (also written
    ``os.environ/NAME``, as in configs), else ``default_value``."""
    name = secret_name.removeprefix("os.environ/")
    value = os.environ.get(name)
    return default_value if value is None else value


def get_valid_models(check_provider_endpoint: bool | None = None,
                     custom_llm_provider: str | None = None, api_key: str | None = None,
                     api_base: str | None = None) -> list[str]:
    """The models a call could reach now: those of the price table whose provider has its
    key in the environment (one provider with ``custom_llm_provider``; a key given here
    counts for it). With ``check_provider_endpoint=True`` and an OpenAI-compatible
    provider, its ``/models`` endpoint is asked instead (``provider/id`` names; an error
    is logged and gives none)."""
    from .cost import model_cost
    from .providers.registry import known_providers, spec_for

    names = [custom_llm_provider] if custom_llm_provider else known_providers()
    usable: set[str] = set()
    for name in names:
        try:
            spec = spec_for(name)
        except LLMRelayError:
            continue
        if spec.name == "mock" or _missing(spec, api_key if custom_llm_provider else None,
                                           api_base if custom_llm_provider else None):
            continue
        usable.add(spec.name)
    if check_provider_endpoint:
        out: list[str] = []
        for name in sorted(usable):
            out += _listed_models(spec_for(name), api_key if custom_llm_provider else None,
                                  api_base if custom_llm_provider else None)
        return out
    return [model for model, row in model_cost.items()
            if row.get("provider") in usable]


def _listed_models(spec: Any, api_key: str | None, api_base: str | None) -> list[str]:
    """``GET {base}/models`` of an OpenAI-compatible provider, as ``provider/id``."""
    if spec.wire != "openai":
        return []
    import httpx

    base = (api_base or spec.env_base() or spec.base_url or "").rstrip("/")
    key = api_key or spec.env_key()
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    try:
        reply = httpx.get(f"{base}/models", headers=headers, timeout=10.0)
        reply.raise_for_status()
        data = reply.json().get("data") or []
    except Exception as exc:
        log.warning("llmrelay: listing %s's models failed: %s: %s", spec.name,
                    type(exc).__name__, exc)
        return []
    return [f"{spec.name}/{m['id']}" for m in data if isinstance(m, dict) and m.get("id")]
