"""AWS credentials and SigV4 signing for Bedrock, through botocore (``llmrelay[bedrock]``).

Credentials, first match wins (LiteLLM's ``litellm_params`` names):

1. ``aws_access_key_id`` + ``aws_secret_access_key`` (+ ``aws_session_token``);
2. ``aws_role_name`` with ``aws_web_identity_token``: STS AssumeRoleWithWebIdentity;
3. ``aws_role_name``: STS AssumeRole from the base credentials (``aws_session_name``,
   ``aws_external_id``, ``aws_sts_endpoint`` apply);
4. otherwise botocore's standard chain for ``aws_profile_name`` (or ``AWS_PROFILE``):
   environment variables, shared config and credentials files and their profiles (SSO,
   ``credential_process``, ``role_arn``), web identity from ``AWS_WEB_IDENTITY_TOKEN_FILE``,
   container and instance metadata.

Resolved credentials are cached per set of settings; assumed-role and other temporary
credentials are refreshed by botocore before they expire. Signing itself is pure CPU over
the exact body bytes; only resolving or refreshing credentials may do network I/O, which is
why :func:`sign` can be asked not to block (``may_block=False``).
"""

from __future__ import annotations

import os
import threading
from typing import Any

from ...exceptions import AuthenticationError, BadRequestError, LLMRelayError
from ..base import Call, HTTPRequest

__all__ = ["credentials", "region_for", "reset", "sign"]

DEFAULT_REGION = "us-east-1"
_KEYS = ("aws_access_key_id", "aws_secret_access_key", "aws_session_token", "aws_profile_name",
         "aws_role_name", "aws_session_name", "aws_web_identity_token", "aws_sts_endpoint",
         "aws_external_id", "aws_region_name")
_cache: dict[tuple[Any, ...], Any] = {}
_lock = threading.Lock()
_sessions: dict[str | None, Any] = {}


def reset() -> None:
    """Forget cached sessions and credentials (after the environment or files changed)."""
    with _lock:
        _cache.clear()
        _sessions.clear()


def _need_botocore(call: Call) -> None:
    try:
        import botocore  # noqa: F401
    except ImportError:
        raise BadRequestError(
            "Bedrock needs botocore for AWS signing: pip install 'llmrelay[bedrock]'",
            llm_provider=call.provider, model=call.model) from None


def _session(profile: str | None) -> Any:
    """A botocore session per profile (reading the shared files once)."""
    session = _sessions.get(profile)
    if session is None:
        import botocore.session

        session = botocore.session.Session(profile=profile)
        _sessions[profile] = session
    return session


def region_for(call: Call) -> str:
    """``aws_region_name``, else ``AWS_REGION``/``AWS_DEFAULT_REGION``, else the profile's
    region from the shared config file, else us-east-1."""
    region = call.auth.get("aws_region_name") or os.environ.get("AWS_REGION") or \
        os.environ.get("AWS_DEFAULT_REGION")
    if region:
        return str(region)
    try:
        found = _session(call.auth.get("aws_profile_name")).get_config_variable("region")
    except Exception:  # no botocore or an unreadable profile: the default region
        found = None
    return str(found or DEFAULT_REGION)


def _assume_role(call: Call, session: Any, base: Any, region: str) -> Any:
    from botocore.credentials import (
        AssumeRoleCredentialFetcher,
        AssumeRoleWithWebIdentityCredentialFetcher,
        DeferredRefreshableCredentials,
    )

    auth = call.auth
    endpoint = auth.get("aws_sts_endpoint")

    def client_creator(service: str, **kwargs: Any) -> Any:
        kwargs.setdefault("region_name", region)
        if endpoint:
            kwargs["endpoint_url"] = endpoint
        if base is not None and "aws_access_key_id" not in kwargs:
            frozen = base.get_frozen_credentials()
            kwargs.update(aws_access_key_id=frozen.access_key,
                          aws_secret_access_key=frozen.secret_key,
                          aws_session_token=frozen.token)
        return session.create_client(service, **kwargs)

    extra: dict[str, Any] = {"RoleSessionName": str(auth.get("aws_session_name")
                                                    or "llmrelay-session")}
    role = str(auth["aws_role_name"])
    token = auth.get("aws_web_identity_token")
    if token:
        fetcher: Any = AssumeRoleWithWebIdentityCredentialFetcher(
            client_creator, lambda: str(token), role, extra_args=extra)
        method = "assume-role-with-web-identity"
    else:
        if auth.get("aws_external_id"):
            extra["ExternalId"] = str(auth["aws_external_id"])
        fetcher = AssumeRoleCredentialFetcher(client_creator, base, role, extra_args=extra)
        method = "assume-role"
    return DeferredRefreshableCredentials(fetcher.fetch_credentials, method)


def _resolve(call: Call, region: str) -> Any:
    from botocore.credentials import Credentials

    auth = call.auth
    key, secret = auth.get("aws_access_key_id"), auth.get("aws_secret_access_key")
    if bool(key) != bool(secret):
        raise AuthenticationError("pass aws_access_key_id and aws_secret_access_key together",
                                  llm_provider=call.provider, model=call.model)
    base = Credentials(str(key), str(secret), auth.get("aws_session_token")) if key else None
    session = _session(auth.get("aws_profile_name"))
    if auth.get("aws_role_name"):
        if base is None and not auth.get("aws_web_identity_token"):
            base = session.get_credentials()
        return _assume_role(call, session, base, region)
    if base is not None:
        return base
    return session.get_credentials()


def credentials(call: Call, region: str, may_block: bool = True) -> Any:
    """botocore credentials for ``call`` (cached); None when they would need I/O to get or
    refresh and ``may_block`` is false. Raises AuthenticationError when none are found."""
    key = (*(str(call.auth.get(k)) for k in _KEYS), region)
    creds = _cache.get(key)
    if creds is None:
        if not may_block:
            return None
        with _lock:
            creds = _cache.get(key)
            if creds is None:
                creds = _resolve(call, region)
                if creds is None:
                    raise AuthenticationError(
                        "no AWS credentials found for Bedrock: pass aws_access_key_id/"
                        "aws_secret_access_key, aws_profile_name or aws_role_name, or set "
                        "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE",
                        llm_provider=call.provider, model=call.model)
                if len(_cache) > 256:
                    _cache.clear()
                _cache[key] = creds
    refresh = getattr(creds, "refresh_needed", None)
    if not may_block and refresh is not None and refresh():
        return None
    return creds


def sign(call: Call, req: HTTPRequest, region: str, may_block: bool = True) -> bool:
    """Add SigV4 headers (``Authorization``, ``X-Amz-Date``, ``X-Amz-Security-Token``) for
    the exact bytes of ``req``'s body. False when that would block and ``may_block`` is
    false. Raises AuthenticationError when no credentials can be found or fetched."""
    _need_botocore(call)
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        creds = credentials(call, region, may_block)
        if creds is None:
            return False
        frozen = creds.get_frozen_credentials()
    except LLMRelayError:
        raise
    except (BotoCoreError, ClientError, OSError, ValueError) as exc:
        raise AuthenticationError(f"could not get AWS credentials for Bedrock: {exc}",
                                  llm_provider=call.provider, model=call.model) from exc
    for name in ("Authorization", "X-Amz-Date", "X-Amz-Security-Token"):
        req.headers.pop(name, None)
    aws = AWSRequest(method=req.method, url=req.url, data=req.payload() or b"",
                     headers=dict(req.headers))
    SigV4Auth(frozen, "bedrock", region).add_auth(aws)
    for name in ("Authorization", "X-Amz-Date", "X-Amz-Security-Token"):
        if name in aws.headers:
            req.headers[name] = aws.headers[name]
    return True
