"""Credentials inside upstream URLs: masking them wherever a URL is shown, and sending a
base URL that carries them (``https://user:password@host/v1``, ``...?api-key=...``).

An ``api_base`` may hold a user and password or a query string: the provider builds its
request on the base without them, then the query is put back on the final URL (after the
provider's path, not inside it) and the user and password become a ``Basic``
``Authorization`` header when the provider set no ``Authorization`` of its own. Anything
that shows a URL (callback kwargs, hidden params, error messages, logs, spend records)
shows :func:`mask_url` of it: no user, no password, and no query value except a few
harmless ones (``api-version`` ...).
"""

from __future__ import annotations

import base64
import re
from typing import Any, overload
from urllib.parse import unquote, urlsplit, urlunsplit

__all__ = ["basic_auth", "mask_url", "mask_urls_in", "split_base", "with_query"]

MASK = "****"
# Query parameters whose values are never secret (shown as they are).
_PLAIN_PARAMS = frozenset({"api-version", "api_version", "version", "alt", "format",
                           "beta", "stream"})
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s\"'<>`]+")


@overload
def mask_url(url: str) -> str: ...
@overload
def mask_url(url: None) -> None: ...
@overload
def mask_url(url: Any) -> Any: ...
def mask_url(url: Any) -> Any:
    """``url`` without the credentials it may hold (non-strings come back unchanged)."""
    if not isinstance(url, str) or ("@" not in url and "?" not in url):
        return url
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if "@" in netloc:
            netloc = f"{MASK}@{netloc.rpartition('@')[2]}"
        query = parts.query
        if query:
            query = "&".join(_mask_pair(pair) for pair in query.split("&"))
        return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    except ValueError:  # not a URL urlsplit can read: hide everything after the host
        head, sep, _ = url.partition("://")
        return f"{head}{sep}{MASK}" if sep else MASK


def _mask_pair(pair: str) -> str:
    name, sep, _ = pair.partition("=")
    if not sep or unquote(name).lower() in _PLAIN_PARAMS:
        return pair
    return f"{name}={MASK}"


def mask_urls_in(text: str) -> str:
    """``text`` (an error message, a log line) with every URL in it masked."""
    if not isinstance(text, str) or "://" not in text:
        return text
    return _URL_IN_TEXT.sub(lambda m: str(mask_url(m.group(0))), text)


def split_base(base: str) -> tuple[str, str, str | None]:
    """``base`` as (the URL without user, password or query; the query; the ``Basic``
    ``Authorization`` value of its user and password, or None)."""
    parts = urlsplit(base)
    netloc, auth = parts.netloc, None
    if "@" in netloc:
        userinfo, _, netloc = netloc.rpartition("@")
        user, _, password = userinfo.partition(":")
        auth = basic_auth(unquote(user), unquote(password))
    clean = urlunsplit((parts.scheme, netloc, parts.path, "", parts.fragment))
    return clean, parts.query, auth


def basic_auth(user: str, password: str) -> str:
    token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    return f"Basic {token}"


def with_query(url: str, query: str) -> str:
    """``url`` with ``query``'s parameters added (the URL's own, such as Azure's
    ``api-version``, win over a same-named one from the base)."""
    if not query:
        return url
    parts = urlsplit(url)
    names = {unquote(p.partition("=")[0]) for p in parts.query.split("&") if p}
    extra = [p for p in query.split("&") if p and unquote(p.partition("=")[0]) not in names]
    merged = "&".join(filter(None, [parts.query, *extra]))  # the provider's own, untouched
    return urlunsplit((parts.scheme, parts.netloc, parts.path, merged, parts.fragment))
