"""Bearer tokens for watsonx.ai.

In order: a token given to the call (``token=``) or ``WATSONX_TOKEN``, used as it is; a
Cloud Pak "Zen" API key (``zen_api_key=`` / ``WATSONX_ZENAPIKEY``), sent as
``Authorization: ZenApiKey <key>``; else the IBM Cloud API key (``api_key=`` /
``WATSONX_APIKEY`` ...) exchanged at the IAM token endpoint (``POST`` form
``grant_type=urn:ibm:params:oauth:grant-type:apikey&apikey=<key>``; the endpoint is
``https://iam.cloud.ibm.com/identity/token`` unless ``WATSONX_IAM_URL`` names another).
Exchanged tokens are kept per endpoint and key until a minute before they expire, so one
exchange serves many calls; only the exchange blocks, which :func:`authorization` can be
asked not to do (``may_block=False``).
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from typing import Any

from ...exceptions import APIConnectionError, AuthenticationError, error_for_status
from ..base import Call, body_excerpt

__all__ = ["IAM_URL", "authorization", "reset"]

IAM_URL = "https://iam.cloud.ibm.com/identity/token"
_GRANT = "urn:ibm:params:oauth:grant-type:apikey"
_MARGIN = 60.0  # seconds before expiry when a token is renewed
_lock = threading.Lock()
_tokens: dict[str, tuple[str, float]] = {}  # (iam url, key digest) -> (token, expires at)
_locks: dict[str, threading.Lock] = {}


def reset() -> None:
    """Forget exchanged tokens."""
    with _lock:
        _tokens.clear()


def _first(*values: Any) -> str | None:
    for v in values:
        if isinstance(v, str) and v:
            return v
    return None


def iam_url() -> str:
    return os.environ.get("WATSONX_IAM_URL") or IAM_URL


def _slot(url: str, key: str) -> str:
    return url + "|" + hashlib.sha256(key.encode()).hexdigest()


def _exchange(call: Call, url: str, key: str) -> tuple[str, float]:
    import httpx

    try:
        r = httpx.post(url, data={"grant_type": _GRANT, "apikey": key},
                       headers={"Accept": "application/json"}, timeout=30.0)
    except httpx.HTTPError as exc:
        raise APIConnectionError(f"could not reach the IBM Cloud IAM token endpoint "
                                 f"({url}): {exc}", llm_provider=call.provider,
                                 model=call.model) from exc
    if r.status_code == 429 or r.status_code >= 500:  # the endpoint's trouble, not the key's
        raise error_for_status(r.status_code)(
            f"the IBM Cloud IAM token endpoint answered HTTP {r.status_code}: "
            f"{body_excerpt(r.content)}", llm_provider=call.provider, model=call.model,
            status_code=r.status_code)
    if r.status_code >= 400:
        raise AuthenticationError(f"the IBM Cloud IAM token endpoint refused the API key "
                                  f"(HTTP {r.status_code}): {body_excerpt(r.content)}",
                                  llm_provider=call.provider, model=call.model,
                                  status_code=r.status_code)
    try:
        data = r.json()
        token = str(data["access_token"])
    except (ValueError, KeyError, TypeError) as exc:
        raise AuthenticationError(f"the IBM Cloud IAM token endpoint sent no access_token: "
                                  f"{body_excerpt(r.content)}", llm_provider=call.provider,
                                  model=call.model) from exc
    expires = data.get("expiration")
    if not isinstance(expires, (int, float)):
        lifetime = data.get("expires_in")
        expires = time.time() + (float(lifetime) if isinstance(lifetime, (int, float))
                                 else 3600.0)
    return token, float(expires)


def authorization(call: Call, may_block: bool = True) -> str | None:
    """The ``Authorization`` header value for ``call``; None when getting it needs the
    token exchange and ``may_block`` is false. Raises AuthenticationError when no
    credential is given or the key is refused, APIConnectionError when the token endpoint
    cannot be reached."""
    token = _first(call.auth.get("token"), os.environ.get("WATSONX_TOKEN"))
    if token:
        return f"Bearer {token}"
    zen = _first(call.auth.get("zen_api_key"), os.environ.get("WATSONX_ZENAPIKEY"))
    if zen:
        return f"ZenApiKey {zen}"
    key = _first(call.api_key, call.spec.env_key())
    if not key:
        env = ", ".join(call.spec.key_env)
        raise AuthenticationError(f"missing credentials for watsonx: pass api_key= (an IBM "
                                  f"Cloud API key) or token=, or set {env} or WATSONX_TOKEN",
                                  llm_provider=call.provider, model=call.model)
    url = iam_url()
    slot = _slot(url, key)
    cached = _tokens.get(slot)
    if cached is not None and cached[1] - _MARGIN > time.time():
        return f"Bearer {cached[0]}"
    if not may_block:
        return None
    with _lock:
        lock = _locks.setdefault(slot, threading.Lock())
    with lock:  # one exchange per key at a time; the others wait for its token
        cached = _tokens.get(slot)
        if cached is None or cached[1] - _MARGIN <= time.time():
            cached = _exchange(call, url, key)
            _tokens[slot] = cached
    return f"Bearer {cached[0]}"
