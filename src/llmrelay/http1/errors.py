"""The errors of the HTTP/1.1 client (besides the ``OSError`` family that connecting and
TLS raise as they are); :mod:`llmrelay.transport` maps them to llmrelay's exceptions."""

from __future__ import annotations

__all__ = ["ConnectTimeout", "HTTPClientError", "InvalidURL", "ProtocolError", "ReadTimeout",
           "ServerDisconnected", "TimeoutHTTPError"]


class HTTPClientError(Exception):
    """Base of the client's own errors."""


class TimeoutHTTPError(HTTPClientError):
    """A connect or read timeout."""


class ConnectTimeout(TimeoutHTTPError):
    """Opening the connection (TCP and TLS) took longer than the connect timeout."""


class ReadTimeout(TimeoutHTTPError):
    """The server sent nothing for longer than the read timeout."""


class ServerDisconnected(HTTPClientError):
    """The connection closed before the whole response arrived."""

    nothing_received = False  # true when not a byte of the response came (safe to retry)


class ProtocolError(HTTPClientError):
    """The response is not valid HTTP/1.1 (or its encoded body cannot be decoded)."""


class InvalidURL(HTTPClientError, ValueError):
    """The URL cannot be sent to (not http or https, no host, a bad port)."""
