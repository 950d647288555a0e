"""``from llmrelay.integrations.custom_logger import CustomLogger``: the public path LiteLLM
users import the base class from. It is defined in :mod:`llmrelay.callbacks.custom_logger`."""

from __future__ import annotations

from ..callbacks.custom_logger import CustomLogger

__all__ = ["CustomLogger"]
