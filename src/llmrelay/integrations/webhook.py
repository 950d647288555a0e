"""HTTP batch logger (names ``webhook`` and ``generic_api``): standard payloads as JSON arrays.

    llmrelay.callbacks = ["webhook"]          # URL and headers from the environment
    llmrelay.callbacks = [WebhookLogger("https://logs.example.com/llm", headers={...})]

Every finished call (success or failure) adds its ``kwargs["standard_logging_object"]`` to a
batch; batches are POSTed as a JSON array from a background thread (see
:mod:`llmrelay.integrations.batching` for batching, retries, bounded memory and the exit
flush). Configuration, constructor first, then the environment:

* URL: ``LLMRELAY_WEBHOOK_URL`` or ``GENERIC_LOGGER_ENDPOINT``;
* headers: ``LLMRELAY_WEBHOOK_HEADERS`` or ``GENERIC_LOGGER_HEADERS`` as ``"k=v,k2=v2"``,
  merged under the ``headers=`` argument.

Prompts and completions in the payload are already redacted when
``turn_off_message_logging`` is on.
"""

from __future__ import annotations

import os
from typing import Any

from .batching import BatchingLogger, BatchSender, parse_header_list
from .registry import IntegrationError

__all__ = ["WebhookLogger"]

URL_ENV = ("LLMRELAY_WEBHOOK_URL", "GENERIC_LOGGER_ENDPOINT")
HEADERS_ENV = ("LLMRELAY_WEBHOOK_HEADERS", "GENERIC_LOGGER_HEADERS")


def _first_env(names: tuple[str, ...]) -> str | None:
    for name in names:
        value = os.environ.get(name)
        if value:
            return value
    return None


class WebhookLogger(BatchingLogger):
    """POSTs standard logging payloads in batches to ``url``.

    Raises :class:`~llmrelay.integrations.registry.IntegrationError` when no URL is given
    and none is set in the environment. ``flush(timeout)`` sends what is queued now;
    ``stats()`` reports sent, retried, dropped and failed items.
    """

    def __init__(self, url: str | None = None, headers: dict[str, str] | None = None, *,
                 batch_size: int = 100, flush_interval: float = 1.0, max_queue: int = 10000,
                 max_retries: int = 5, backoff_base: float = 0.5, backoff_max: float = 30.0,
                 timeout: float = 10.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        url = url or _first_env(URL_ENV)
        if not url:
            raise IntegrationError(
                "the webhook logger needs a URL: set LLMRELAY_WEBHOOK_URL (or "
                "GENERIC_LOGGER_ENDPOINT), or pass WebhookLogger(url=...)")
        merged = parse_header_list(_first_env(HEADERS_ENV))
        merged.update(headers or {})
        self.sender = BatchSender(
            "webhook", url, headers=merged, batch_size=batch_size,
            flush_interval=flush_interval, max_queue=max_queue, max_retries=max_retries,
            backoff_base=backoff_base, backoff_max=backoff_max, timeout=timeout)

    @property
    def url(self) -> str:
        return self.sender.url

