"""The light request and response objects of the LLM endpoints.

:class:`LeanRequest` is what the LLM handlers read of a request (its headers as a dict,
its body, the app), made from the ASGI scope and ``receive`` without Starlette's
``Request`` and ``Headers`` (whose ``get`` scans the header list and lower-cases the name
on every call). :class:`LeanResponse` is a Starlette ``Response`` whose headers stay the
dict they were given until someone asks for Starlette's encoded list: under
``llmrelay serve`` the connection writes the status line and headers from that dict in one
join and one encode (:meth:`LeanResponse.write_head`, see :mod:`.protocol`); any other
ASGI server gets the usual ``http.response.start`` message.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import STATUS_LINE

__all__ = ["AnyRequest", "LeanHeaders", "LeanRequest", "LeanResponse", "header_block"]


class LeanHeaders(dict[str, str]):
    """A request's headers, names lower-cased; the first of repeated headers is kept (what
    Starlette's ``Headers.get`` returns). ``get`` also finds a name given in capitals."""

    __slots__ = ()

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        value = dict.get(self, key)
        if value is None:
            value = dict.get(self, key.lower(), default)
        return value


class LeanRequest:
    """The parts of a request the LLM handlers read (see the module docstring)."""

    __slots__ = ("_body", "_ended", "_receive", "app", "headers", "scope")

    def __init__(self, app: Any, scope: Scope, receive: Receive) -> None:
        self.app = app
        self.scope = scope
        self._receive = receive
        self._body: bytes | None = None
        self._ended = False  # the last part of the body was received
        self.headers = LeanHeaders(
            [(k.decode("latin-1"), v.decode("latin-1")) for k, v in reversed(scope["headers"])])

    @property
    def method(self) -> str:
        return str(self.scope["method"])

    @property
    def client(self) -> Any:
        return self.scope.get("client")

    async def _part(self) -> bytes:
        message = await self._receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        if not message.get("more_body", False):
            self._ended = True
        return message.get("body", b"")  # type: ignore[no-any-return]

    async def body(self) -> bytes:
        """The whole body (read once); ``ClientDisconnect`` when the client left first."""
        if self._body is None:
            if self._ended:
                raise RuntimeError("the request body was already read as a stream")
            body = await self._part()
            if not self._ended:
                parts = [body]
                while not self._ended:
                    parts.append(await self._part())
                body = b"".join(parts)
            self._body = body
        return self._body

    async def stream(self) -> AsyncIterator[bytes]:
        """The body in the parts it arrives in (the whole body when it was read already);
        a later call goes on where an earlier one stopped, and ends at the body's end."""
        if self._body is not None:
            yield self._body
            return
        while not self._ended:
            part = await self._part()
            if part:
                yield part


# What the LLM handlers accept: the short path's request, or Starlette's on the usual path
# (middleware added, routes of the request contract).
AnyRequest = Request | LeanRequest


# Response header names the direct write leaves to the general path: framing headers, and
# anything that is not a lower-case token.
_FRAMING = frozenset({"content-length", "transfer-encoding", "connection", "content-type"})
_BAD_NAME = re.compile(r'[^!#$%&\'*+\-.^_`|~0-9a-z]')
_NAMES: set[str] = set()  # names found to be lower-case tokens (the same few every time)
_CONTENT_TYPES: dict[str, bytes] = {}


def header_block(fields: Mapping[str, str]) -> bytes | None:
    """``fields`` as ``name: value\r\n`` lines in one encode, or None when they need the
    general path (a framing header, a name that is not a lower-case token, a line break
    or NUL in a value, a value that is not latin-1 text)."""
    if not fields:
        return b""
    if not fields.keys().isdisjoint(_FRAMING):
        return None
    if not _NAMES.issuperset(fields) and not _check_names(fields):
        return None
    try:
        block = "\r\n".join(map(": ".join, fields.items())).encode("latin-1")
    except (TypeError, UnicodeEncodeError):  # a value that is not latin-1 text
        return None
    # No line break but those put between the fields (memchr-fast counts; a per-byte scan
    # for the other control characters cost ~10k instructions per answer). The values
    # are llmrelay's own text and upstream header values, which the upstream client's
    # HTTP parser (llhttp) refuses control characters in.
    breaks = len(fields) - 1
    if block.count(b"\n") != breaks or block.count(b"\r") != breaks or b"\x00" in block:
        return None
    return block + b"\r\n"


def _check_names(fields: Mapping[str, str]) -> bool:
    for name in fields:
        if name not in _NAMES:
            if not isinstance(name, str) or not name or _BAD_NAME.search(name):
                return False
            if len(_NAMES) < 4096:
                _NAMES.add(name)
    return True


def _content_type(media_type: str, charset: str) -> bytes:
    """The content-type line Starlette would write for ``media_type``."""
    line = _CONTENT_TYPES.get(media_type)
    if line is None:
        value = media_type
        if value.startswith("text/") and "charset=" not in value.lower():
            value += "; charset=" + charset
        line = _CONTENT_TYPES[media_type] = b"content-type: " + value.encode("latin-1") + b"\r\n"
    return line


_dates: list[Any] = [None, b""]  # uvicorn's default headers (one list per second), encoded


def _default_headers(default: list[tuple[bytes, bytes]]) -> bytes:
    if _dates[0] is not default:
        _dates[1] = b"".join([name + b": " + value + b"\r\n" for name, value in default])
        _dates[0] = default
    block: bytes = _dates[1]
    return block


class LeanResponse(Response):
    """A Starlette response whose headers stay a dict (``fields``) until Starlette's
    ``raw_headers`` are asked for. ``body`` None: a streamed body (chunked)."""

    def __init__(self, body: bytes | None, headers: Mapping[str, str] | None = None,
                 status: int = 200, media_type: str | None = None) -> None:
        if body is not None:
            self.body = body
        self.status_code = status
        if media_type is not None:
            self.media_type = media_type
        self.background = None
        self.fields: Mapping[str, str] = headers if headers is not None else {}
        self._raw: list[tuple[bytes, bytes]] | None = None

    @property  # type: ignore[override]
    def raw_headers(self) -> list[tuple[bytes, bytes]]:
        if self._raw is None:
            self.init_headers(self.fields)  # sets raw_headers (Starlette's encoding)
        assert self._raw is not None
        return self._raw

    @raw_headers.setter
    def raw_headers(self, value: list[tuple[bytes, bytes]]) -> None:
        self._raw = value

    def write_head(self, cycle: Any) -> bool:
        """Under ``llmrelay serve``: write this response for uvicorn's request cycle
        ``cycle`` as its ``send`` would write it, from ``fields`` in one join and encode.
        A whole answer is written and the cycle completed (its status line, headers and
        body in one write); a streamed one has its status line and headers written and
        is marked started (its body then goes through ``cycle.send``: call this response
        with ``started=True``). False, nothing written, when the general path must do it
        (Starlette's headers were asked for, a header the dict cannot carry, a paused
        or closed connection)."""
        if self._raw is not None or cycle.response_started or cycle.disconnected \
                or cycle.flow.write_paused:
            return False
        status = self.status_code
        if status < 200 or status in (204, 304):
            return False
        block = header_block(self.fields)
        if block is None:
            return False
        parts = [STATUS_LINE[status], _default_headers(cycle.default_headers), block]
        body = getattr(self, "body", None)
        if body is not None:
            parts.append(b"content-length: %d\r\n" % len(body))
        if self.media_type is not None:
            parts.append(_content_type(self.media_type, self.charset))
        keep_alive = cycle.keep_alive
        if not keep_alive:
            parts.append(b"connection: close\r\n")
        cycle.response_started = True
        cycle.waiting_for_100_continue = False
        transport = cycle.transport
        if body is None:
            parts.append(b"transfer-encoding: chunked\r\n\r\n")
            cycle.chunked_encoding = True
            transport.write(b"".join(parts))
            return True
        parts.append(b"\r\n")
        parts.append(body)
        getattr(transport, "write_now", transport.write)(b"".join(parts))
        # what uvicorn's send does once the last part of a body is written
        cycle.chunked_encoding = False
        cycle.response_complete = True
        cycle.message_event.set()
        if not keep_alive:
            transport.close()
        cycle.on_response()
        return True

    async def __call__(self, scope: Scope, receive: Receive, send: Send,
                       started: bool = False) -> None:
        if not started:
            await send({"type": "http.response.start", "status": self.status_code,
                        "headers": self.raw_headers})
        await send({"type": "http.response.body", "body": getattr(self, "body", b"")})
