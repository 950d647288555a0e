"""The proxy's resource limits: what one request may ask for, and how long and how wide a
client may hold the server. All are ``general_settings`` keys with the defaults below.

============================  =========  ==================================================
key                           default    meaning
============================  =========  ==================================================
max_request_size_mb           10         request body size (413 above it; LiteLLM's key)
max_n                         128        ``n`` (choices per request; OpenAI's maximum)
max_embedding_inputs          2048       entries in an embeddings ``input`` array (OpenAI's)
max_messages                  10000      entries in ``messages``
max_metadata_depth            8          nesting of ``metadata`` (requests and keys)
max_metadata_size_kb          64         ``metadata`` as JSON (requests and keys)
request_header_timeout        10         seconds for a request's line and headers to arrive
request_body_timeout          30         seconds for its body, plus 1 s per
request_body_min_rate         500        ... this many bytes received (slow senders are cut)
max_header_size_kb            64         request line and headers together (431 above it)
max_connections               1000       open connections per worker (503 above; 0: no cap)
============================  =========  ==================================================
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

__all__ = ["CONNECTION", "LIMIT_KEYS", "OVERLOADED", "Limits", "limits_from"]

# The ASGI scope key the server protocol sets on a request that arrived on a connection
# beyond ``max_connections`` (the app answers it 503).
OVERLOADED = "llmrelay.overloaded"
# The ASGI scope key naming the server protocol that serves the request, when it offers
# ``watch_disconnect`` (proxy/protocol.py; streaming responses use it, proxy/sse.py).
CONNECTION = "llmrelay.connection"


@dataclass(frozen=True)
class Limits:
    max_n: int = 128
    max_embedding_inputs: int = 2048
    max_messages: int = 10000
    max_metadata_depth: int = 8
    max_metadata_size_kb: float = 64.0
    request_header_timeout: float = 10.0
    request_body_timeout: float = 30.0
    request_body_min_rate: float = 500.0
    max_header_size_kb: float = 64.0
    max_connections: int = 1000

    @property
    def max_metadata_bytes(self) -> int:
        return int(self.max_metadata_size_kb * 1024)

    @property
    def max_header_bytes(self) -> int:
        return int(self.max_header_size_kb * 1024)


LIMIT_KEYS = frozenset(f.name for f in fields(Limits))
_ZERO_OK = {"max_connections"}  # 0 turns that cap off


def limits_from(section: dict[str, Any], where: str = "general_settings") -> Limits:
    """The limits set in a ``general_settings`` mapping (others keep their defaults).

    Raises ValueError naming the key for a value that is not a positive number (an
    integer where the limit counts things); numeric strings are accepted, as
    ``os.environ/`` values are strings."""
    values: dict[str, Any] = {}
    for f in fields(Limits):
        raw = section.get(f.name)
        if raw is None:
            continue
        integer = f.type in ("int", int)
        value = raw
        if isinstance(value, str):
            try:
                value = int(value) if integer else float(value)
            except ValueError:
                pass
        ok = (not isinstance(value, bool) and isinstance(value, int if integer else (int, float))
              and math.isfinite(value) and (value > 0 or (value == 0 and f.name in _ZERO_OK)))
        if not ok:
            kind = "integer" if integer else "number"
            raise ValueError(f"{where}.{f.name}: expected a positive {kind}, got {raw!r}")
        values[f.name] = value
    return Limits(**values)
