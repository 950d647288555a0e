"""The callback system: hook declarations, per-call logging state, background delivery."""

from .dispatcher import dispatcher

__all__ = ["dispatcher"]
