"""A lean pooled HTTP/1.1 client on asyncio protocols, for the default transport's async
calls (:mod:`llmrelay.transport`).

Framing is llhttp's (``httptools.HttpResponseParser``); this package writes the request
and keeps the connections: :mod:`.connection` (one connection: the protocol, body
delivery, gzip/deflate decoding, the read timeout), :mod:`.pool` (one pool per event
loop: keep-alive reuse, the connection limit, TLS, closing with the loop),
:mod:`.client` (:func:`request` and :func:`open_stream`), :mod:`.errors`.
"""

from __future__ import annotations

from .client import Response, open_stream, request, target
from .errors import (
                     ConnectTimeout,
                     HTTPClientError,
                     ProtocolError,
                     ReadTimeout,
                     ServerDisconnected,
                     TimeoutHTTPError,
)
from .pool import loop_pool, pools

__all__ = ["ConnectTimeout", "HTTPClientError", "ProtocolError", "ReadTimeout", "Response",
           "ServerDisconnected", "TimeoutHTTPError", "loop_pool", "open_stream", "pools",
           "request", "target"]
