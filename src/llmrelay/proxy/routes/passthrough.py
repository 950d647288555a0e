"""``general_settings.pass_through_endpoints``: routes forwarded as they are to another API.

::

    general_settings:
      pass_through_endpoints:
        - path: /v1/rerank                      # the proxy's route
          target: https://api.cohere.com/v1/rerank
          headers: {Authorization: "bearer os.environ/COHERE_API_KEY"}   # added upstream
          forward_headers: true                 # also send the client's headers
          include_subpath: false                # true: /v1/rerank/... goes to target/...
          auth: true                            # a proxy key is needed (see below)

The method, query string and body go upstream unchanged and the answer comes back as it
is, streamed. A proxy key is required whenever the proxy has a master key, unless the
entry says ``auth: false`` (LiteLLM leaves these routes open by default; llmrelay does not
hand out its upstream credentials to unauthenticated callers unless told to). The
client's own credentials (``Authorization``, ``x-api-key``, ``api-key``) are never
forwarded: they are keys of this proxy. Usage is not priced or recorded.
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from ..config_values import ConfigError, as_bool
from ..errors import ProxyError, from_exception
from ..sse import json_response

__all__ = ["PassThrough", "parse_endpoints", "routes"]

_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
_HOP = frozenset({"host", "content-length", "connection", "keep-alive", "transfer-encoding",
                  "te", "trailer", "upgrade", "proxy-authorization", "proxy-authenticate",
                  "authorization", "x-api-key", "api-key", "accept-encoding"})
_TIMEOUT = 600.0


@dataclass(frozen=True)
class PassThrough:
    path: str
    target: str
    headers: dict[str, str] = field(default_factory=dict)
    forward_headers: bool = False
    include_subpath: bool = False
    auth: bool = True


def parse_endpoints(value: Any) -> list[PassThrough]:
    """``pass_through_endpoints`` entries, checked; raises ConfigError naming the entry."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise ConfigError("general_settings.pass_through_endpoints: expected a list")
    out = []
    for i, item in enumerate(value):
        where = f"general_settings.pass_through_endpoints[{i}]"
        if not isinstance(item, dict):
            raise ConfigError(f"{where}: expected a mapping with path and target")
        path, target = item.get("path"), item.get("target")
        if not isinstance(path, str) or not path.startswith("/"):
            raise ConfigError(f"{where}.path: expected a path such as /v1/rerank")
        if not isinstance(target, str) or not target.startswith(("http://", "https://")):
            raise ConfigError(f"{where}.target: expected an http(s) URL")
        headers = item.get("headers") or {}
        if not isinstance(headers, dict):
            raise ConfigError(f"{where}.headers: expected a mapping")
        flags = {name: as_bool(item[name], f"{where}.{name}")
                 for name in ("forward_headers", "include_subpath", "auth")
                 if item.get(name) is not None}
        out.append(PassThrough(path.rstrip("/") or "/", target.rstrip("/"),
                               {str(k): _env_inline(str(v), f"{where}.headers.{k}")
                                for k, v in headers.items() if v is not None}, **flags))
    return out


_ENV_REF = re.compile(r"os\.environ/([A-Za-z_][A-Za-z0-9_]*)")


def _env_inline(value: str, where: str) -> str:
    """``"Bearer os.environ/COHERE_API_KEY"``: references inside a header value too."""
    def sub(match: re.Match[str]) -> str:
        found = os.environ.get(match.group(1))
        if found is None:
            raise ConfigError(f"{where}: environment variable {match.group(1)} is not set")
        return found
    return _ENV_REF.sub(sub, value)


class _Forwarder:
    """The endpoint for one entry (its HTTP client is made on first use)."""

    def __init__(self, spec: PassThrough) -> None:
        self.spec = spec
        self.client: Any = None

    async def __call__(self, request: Request) -> Response:
        spec = self.spec
        try:
            state = request.app.state.proxy
            if spec.auth and state.auth.enabled:
                await state.auth.authenticate(request.headers)
            rest = request.path_params.get("rest", "")
            url = spec.target + ("/" + rest if rest else "")
            if request.url.query:
                url += "?" + request.url.query
            headers = {k: v for k, v in request.headers.items()
                       if spec.forward_headers and k.lower() not in _HOP
                       and k.lower() != (state.auth.key_header or "")}
            headers.update(spec.headers)
            body = await request.body()
            return await self._send(request.method, url, headers, body)
        except Exception as exc:
            err = from_exception(exc)
            return json_response(err.body(), err.status_code, err.headers)

    async def _send(self, method: str, url: str, headers: dict[str, str],
                    body: bytes) -> Response:
        import httpx

        if self.client is None:
            self.client = httpx.AsyncClient(timeout=_TIMEOUT)
        client: httpx.AsyncClient = self.client
        try:
            upstream = await client.send(client.build_request(method, url, headers=headers,
                                                              content=body), stream=True)
        except httpx.HTTPError as exc:
            raise ProxyError(502, f"pass-through target {self.spec.target} could not be "
                                  f"reached: {type(exc).__name__}", type="api_error",
                             code="upstream_unreachable") from None
        out_headers = {k: v for k, v in upstream.headers.items() if k.lower() not in _HOP}

        async def body_iter() -> AsyncIterator[bytes]:
            async for part in upstream.aiter_raw():
                yield part

        return StreamingResponse(body_iter(), status_code=upstream.status_code,
                                 headers=out_headers, background=BackgroundTask(upstream.aclose))


def routes(endpoints: list[PassThrough]) -> list[BaseRoute]:
    out: list[BaseRoute] = []
    for spec in endpoints:
        handler = _Forwarder(spec).__call__  # a method: Starlette passes it the Request
        out.append(Route(spec.path, handler, methods=_METHODS))
        if spec.include_subpath:
            out.append(Route(spec.path.rstrip("/") + "/{rest:path}", handler, methods=_METHODS))
    return out
