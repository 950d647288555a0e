"""Text made storable before it reaches a usage row: PostgreSQL refuses NUL characters and
every database driver refuses text that is not valid Unicode (a lone surrogate such as
``"\\ud800"`` is legal in a JSON string and in a Python ``str``, but not in UTF-8).

* NUL (U+0000) becomes U+FFFD; a lone surrogate becomes U+FFFD;
* a value longer than its limit is cut there and ends with ``"..."``;
* tags: at most :data:`MAX_TAGS`, each a string of at most :data:`MAX_TAG_CHARS`.

The common case (short ASCII text without NUL) costs one ``isascii`` and one ``in``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["MAX_BODY_CHARS", "MAX_TAGS", "MAX_TAG_CHARS", "MAX_TEXT_CHARS", "storable_record", "storable_tags",
           "storable_text"]

MAX_TEXT_CHARS = 1024
MAX_TAG_CHARS = 256
MAX_TAGS = 64
MAX_BODY_CHARS = 65536  # stored request/response bodies (store_prompts_in_spend_logs)
_REPLACEMENT = "\ufffd"


def storable_text(value: str | None, limit: int = MAX_TEXT_CHARS) -> str | None:
    """``value`` with NUL and lone surrogates replaced and cut to ``limit`` characters."""
    if value is None:
        return None
    if not isinstance(value, str):
        value = str(value)
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates (valid pairs were joined by the parser)
            value = "".join(_REPLACEMENT if "\ud800" <= c <= "\udfff" else c for c in value)
    if "\x00" in value:
        value = value.replace("\x00", _REPLACEMENT)
    if len(value) > limit:
        value = value[: max(limit - 3, 0)] + "..."
    return value


def storable_tags(tags: Any) -> list[str]:
    """Request tags as stored: a list of distinct storable strings (non-lists give
    ``[]``)."""
    if not isinstance(tags, (list, tuple)):
        return []
    return list(dict.fromkeys(storable_text(str(t), MAX_TAG_CHARS) or ""
                              for t in tags[:MAX_TAGS]))


_RECORD_TEXT = ("call_id", "key_hash", "key_alias", "user_id", "team_id", "model",
                "model_group", "deployment", "api_base", "status", "end_user", "provider",
                "organization_id")


def storable_record(rec: Any) -> Any:
    """Make every text field of a usage record (a ``SpendRecord``) storable, in place;
    returns it."""
    for name in _RECORD_TEXT:
        value = getattr(rec, name)
        if value is not None and (not isinstance(value, str) or "\x00" in value
                                  or len(value) > MAX_TEXT_CHARS or not value.isascii()):
            setattr(rec, name, storable_text(value))
    tags = rec.request_tags
    if tags:
        rec.request_tags = storable_tags(tags)
    for name in ("messages", "response"):
        value = getattr(rec, name)
        if value is not None:
            setattr(rec, name, storable_text(value, MAX_BODY_CHARS))
    return rec
