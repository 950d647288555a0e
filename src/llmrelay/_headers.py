"""Upstream response headers as LiteLLM exposes them in
``response._hidden_params["additional_headers"]``.

Every header the provider sent appears as ``llm_provider-<name>``; rate-limit headers also
appear under OpenAI's names (``x-ratelimit-remaining-requests`` ...), whichever vendor sent
them, so code reading the OpenAI names works for every provider. The proxy sends
``additional_headers`` on as HTTP headers, as LiteLLM's does.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["additional_headers"]

PREFIX = "llm_provider-"

# Vendors' rate-limit headers under OpenAI's names (OpenAI's own pass as they are).
_RATE_LIMIT_ALIASES = {
    "anthropic-ratelimit-requests-limit": "x-ratelimit-limit-requests",
    "anthropic-ratelimit-requests-remaining": "x-ratelimit-remaining-requests",
    "anthropic-ratelimit-requests-reset": "x-ratelimit-reset-requests",
    "anthropic-ratelimit-tokens-limit": "x-ratelimit-limit-tokens",
    "anthropic-ratelimit-tokens-remaining": "x-ratelimit-remaining-tokens",
    "anthropic-ratelimit-tokens-reset": "x-ratelimit-reset-tokens",
}


def additional_headers(headers: Mapping[str, str] | None) -> dict[str, str]:
    """``headers`` (one upstream reply's) as ``additional_headers``: the rate-limit
    headers under OpenAI's names, then every header prefixed ``llm_provider-``."""
    if not headers:
        return {}
    limits: dict[str, str] = {}
    prefixed: dict[str, str] = {}
    for name, value in headers.items():
        if value is None:
            continue
        low = name.lower()
        if low.startswith("x-ratelimit-"):
            limits[low] = value
        else:
            alias = _RATE_LIMIT_ALIASES.get(low)
            if alias is not None:
                limits.setdefault(alias, value)
        prefixed[PREFIX + low] = value
    limits.update(prefixed)
    return limits
