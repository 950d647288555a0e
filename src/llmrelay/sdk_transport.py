"""Sending through the OpenAI SDK client a caller passed as ``client=``.

LiteLLM users pass an ``openai.OpenAI`` / ``AsyncOpenAI`` / ``AzureOpenAI`` /
``AsyncAzureOpenAI`` instance to ``completion(..., client=c)`` (or ``embedding``,
``text_completion``) to send with their own HTTP settings: proxies, certificates, an
``http_client``, default headers, retries. :class:`SDKClientTransport` sends the provider's
request through that client's public raw-response methods
(``c.chat.completions.with_raw_response.create``, ``c.completions...``,
``c.embeddings...``), so whatever the client is configured with applies; the reply's HTTP
body goes back to the provider's parser as any other reply, so the result, the errors and
the callbacks are the same as without ``client=``.

What the client does not serve (another endpoint, or a sync call given an async client)
goes through the default transport, with the client's key and base URL as before.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from .exceptions import APIConnectionError, Timeout
from .transport import Reply, SyncStream, Transport, asplit_lines, default_transport

if TYPE_CHECKING:
    from .providers.base import HTTPRequest

__all__ = ["SDKClientTransport", "is_sdk_client"]

# request path suffix -> (resource path on the client, the named arguments it takes first)
_ENDPOINTS: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("/chat/completions", ("chat", "completions"), ("messages",)),
    ("/completions", ("completions",), ("prompt",)),
    ("/embeddings", ("embeddings",), ("input",)),
)
# headers the SDK client writes itself (its own credentials, encoding and framing)
_OWN_HEADERS = frozenset({"authorization", "api-key", "content-type", "content-length",
                          "user-agent", "accept", "host"})


_closing: set[asyncio.Task[Any]] = set()  # streams being closed (a task needs a reference)


def is_sdk_client(obj: Any) -> bool:
    """True for an OpenAI SDK client (sync or async, OpenAI or Azure)."""
    if obj is None:
        return False
    module = type(obj).__module__ or ""
    return module.split(".")[0] == "openai" and hasattr(obj, "chat") and hasattr(
        obj, "embeddings")


def _is_async(obj: Any) -> bool:
    return type(obj).__name__.startswith("Async")


class SDKClientTransport:
    """A :class:`~llmrelay.transport.Transport` over a caller's OpenAI SDK client.

    ``model`` is the provider's model name (Azure's deployment), given to the SDK method,
    which builds the URL from it and its own base URL. Body fields other than the model and
    the endpoint's main argument go as ``extra_body``; the request URL's query (Azure's
    ``api-version`` of this call) as ``extra_query``. The client's own credentials are
    used unless ``own_auth`` (the call gave another key): then the request's auth headers
    replace them."""

    def __init__(self, client: Any, model: str, fallback: Transport | None = None,
                 own_auth: bool = False) -> None:
        self.client = client
        self.model = model
        self.fallback = fallback or default_transport()
        self.skip_headers = _OWN_HEADERS - {"authorization", "api-key"} if own_auth else (
            _OWN_HEADERS)

    # ---- the SDK method and its arguments ----------------------------------------------------
    def _method(self, req: HTTPRequest) -> tuple[Any, dict[str, Any]] | None:
        path = urlsplit(req.url).path.rstrip("/")
        if req.method.upper() != "POST" or (req.content is not None and req.body is None):
            return None
        for suffix, resource, named in _ENDPOINTS:
            if not path.endswith(suffix):
                continue
            target: Any = self.client
            try:
                for part in resource:
                    target = getattr(target, part)
                create = target.with_raw_response.create
            except AttributeError:
                return None
            return create, self._arguments(req, named)
        return None

    def _arguments(self, req: HTTPRequest, named: tuple[str, ...]) -> dict[str, Any]:
        body = dict(req.body or {})
        args: dict[str, Any] = {"model": self.model}
        body.pop("model", None)
        for name in named:
            if name in body:
                args[name] = body.pop(name)
        if "stream" in body:
            args["stream"] = bool(body.pop("stream"))
        if body:
            args["extra_body"] = body
        query = dict(parse_qsl(urlsplit(req.url).query))
        if query:
            args["extra_query"] = query
        headers = {k: v for k, v in req.headers.items() if k.lower() not in self.skip_headers}
        if headers:
            args["extra_headers"] = headers
        return args

    # ---- replies -----------------------------------------------------------------------------
    @staticmethod
    def _http(raw: Any) -> Any:
        response = getattr(raw, "http_response", None)
        if response is None:
            raise APIConnectionError(f"the client passed as client= returned "
                                     f"{type(raw).__name__}, not an HTTP reply")
        return response

    @staticmethod
    def _error(exc: Exception) -> Reply | None:
        """An SDK error carrying an HTTP reply as that reply (the provider maps it);
        None for the others, which :meth:`_raise` maps."""
        response: Any = getattr(exc, "response", None)
        status = getattr(response, "status_code", None)
        if response is None or not isinstance(status, int):
            return None
        try:
            body = bytes(response.content)
        except Exception:  # a streamed error reply the SDK did not read
            body = b""
        return Reply(status, dict(response.headers), body)

    @staticmethod
    def _raise(exc: Exception) -> None:
        import openai

        if isinstance(exc, openai.APITimeoutError):
            raise Timeout(f"the client passed as client= timed out: {exc}") from exc
        if isinstance(exc, openai.APIConnectionError):
            raise APIConnectionError(f"the client passed as client= could not connect: "
                                     f"{exc}") from exc

    def _failed(self, exc: Exception) -> Reply:
        """What a call that raised ``exc`` answers: its HTTP reply when it carries one, else
        ``exc`` mapped to our error (or re-raised)."""
        reply = self._error(exc)
        if reply is None:
            self._raise(exc)
            raise exc
        return reply

    def _timeout(self, args: dict[str, Any], timeout: Any) -> dict[str, Any]:
        if timeout is not None:
            args["timeout"] = timeout
        return args

    # ---- Transport ---------------------------------------------------------------------------
    def send(self, req: HTTPRequest, timeout: Any = None) -> Reply:
        found = None if _is_async(self.client) else self._method(req)
        if found is None:
            return self.fallback.send(req, timeout)
        create, args = found
        try:
            response = self._http(create(**self._timeout(args, timeout)))
        except Exception as exc:
            return self._failed(exc)
        return Reply(response.status_code, dict(response.headers), bytes(response.content))

    def stream(self, req: HTTPRequest, timeout: Any = None) -> Any:
        found = None if _is_async(self.client) else self._method(req)
        if found is None:
            return self.fallback.stream(req, timeout)
        create, args = found
        try:
            response = self._http(create(**self._timeout(args, timeout)))
        except Exception as exc:
            return _WholeStream(self._failed(exc))
        return SyncStream(req, response)

    async def asend(self, req: HTTPRequest, timeout: Any = None) -> Reply:
        found = self._method(req)
        if found is None:
            return await self.fallback.asend(req, timeout)
        create, args = found
        args = self._timeout(args, timeout)
        try:
            if _is_async(self.client):
                raw = await create(**args)
                response = self._http(raw)
                content = await response.aread()
            else:
                raw = await asyncio.to_thread(create, **args)
                response = self._http(raw)
                content = response.content
        except Exception as exc:
            return self._failed(exc)
        return Reply(response.status_code, dict(response.headers), bytes(content))

    async def astream(self, req: HTTPRequest, timeout: Any = None) -> Any:
        found = self._method(req) if _is_async(self.client) else None
        if found is None:
            return await self.fallback.astream(req, timeout)
        create, args = found
        try:
            response = self._http(await create(**self._timeout(args, timeout)))
        except Exception as exc:
            return _AsyncWholeStream(self._failed(exc))
        return _AsyncSDKStream(response)


class _WholeStream:
    """An error reply received whole, shaped as a stream (sync and async ``read``)."""

    def __init__(self, reply: Reply) -> None:
        self.status = reply.status
        self.headers = reply.headers
        self._body = reply.body

    def read(self) -> bytes:
        return self._body

    def chunks(self) -> Iterator[bytes]:
        yield self._body

    def lines(self) -> Iterator[bytes]:
        yield from self._body.splitlines()

    def close(self) -> None:
        return None


class _AsyncWholeStream(_WholeStream):
    async def read(self) -> bytes:  # type: ignore[override]
        return self._body

    async def chunks(self) -> AsyncIterator[bytes]:  # type: ignore[override]
        yield self._body

    def lines(self) -> AsyncIterator[bytes]:  # type: ignore[override]
        return asplit_lines(self.chunks())


class _AsyncSDKStream:
    """An open ``httpx`` async streamed reply of an async SDK client."""

    def __init__(self, response: Any) -> None:
        self._response = response
        self.status = response.status_code
        self.headers = dict(response.headers)

    async def read(self) -> bytes:
        try:
            return bytes(await self._response.aread())
        finally:
            self.close()

    async def chunks(self) -> AsyncIterator[bytes]:
        import httpx

        try:
            async for piece in self._response.aiter_bytes():
                yield piece
        except httpx.HTTPError as exc:
            raise APIConnectionError(f"the stream of the client passed as client= broke: "
                                     f"{exc}") from exc

    def lines(self) -> AsyncIterator[bytes]:
        return asplit_lines(self.chunks())

    def close(self) -> None:
        closing = self._response.aclose()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            closing.close()
            return
        task = loop.create_task(closing)
        _closing.add(task)
        task.add_done_callback(_closing.discard)
