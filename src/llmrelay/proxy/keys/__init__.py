"""The proxy's key store half: virtual keys and usage records in SQLite or PostgreSQL
(:func:`open_store`), the in-process key cache, the spend spool and batched spend writer,
and the limiter. The PostgreSQL backend (psycopg) is imported only for a ``postgresql://`` URL."""

from .cache import KeyCache
from .fields import KeyFieldError
from .limits import Lease, Limiter, LimitExceeded, model_allowed
from .models import KeyRecord, SpendRecord, hash_key, parse_duration
from .spend import SpendWriter
from .spool import Spool, SpoolError
from .store import KeyStore, RowsRejected, StoreUnavailable, open_store

__all__ = [
    "KeyCache",
    "KeyFieldError",
    "KeyRecord",
    "KeyStore",
    "Lease",
    "LimitExceeded",
    "Limiter",
    "RowsRejected",
    "SpendRecord",
    "SpendWriter",
    "Spool",
    "SpoolError",
    "StoreUnavailable",
    "hash_key",
    "model_allowed",
    "open_store",
    "parse_duration",
]
