"""Reading environment variables on the call path, cheaply.

Every call may look up a few variables that are usually unset (``OPENAI_BASE_URL``,
``OPENAI_ORG_ID``, ...). ``os.environ.get`` of an unset name costs an exception raised and
caught inside ``os`` (about a microsecond each, several per call). :func:`getenv` reads
the same live table ``os.environ`` keeps (assignments to ``os.environ[...]`` and ``del``
are seen at once), with one dictionary lookup, on CPython's POSIX layout; elsewhere it is
``os.environ.get``.
"""

from __future__ import annotations

import os
from collections.abc import Callable

__all__ = ["getenv"]


def _live_table() -> Callable[[str], str | None] | None:
    """A reader over ``os.environ``'s own table, when it is laid out as on CPython's
    POSIX (bytes keys and values in a dict, updated by every change), else None."""
    environ = os.environ
    data = getattr(environ, "_data", None)
    encode = getattr(environ, "encodekey", None)
    decode = getattr(environ, "decodevalue", None)
    if os.name != "posix" or type(data) is not dict or encode is None or decode is None:
        return None
    if len(data) != len(environ):
        return None
    for name, value in environ.items():  # the table must be what os.environ reads
        if data.get(encode(name)) is None or decode(data[encode(name)]) != value:
            return None
        break
    keys: dict[str, bytes] = {}

    def read(name: str) -> str | None:
        if os.environ is not environ:  # replaced wholesale (not only changed): ask it
            return os.environ.get(name)
        key = keys.get(name)
        if key is None:
            key = keys[name] = encode(name)
        raw = data.get(key)
        return None if raw is None else decode(raw)

    return read


getenv: Callable[[str], str | None] = _live_table() or os.environ.get
