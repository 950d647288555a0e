"""The proxy's ASGI application: :func:`create_app` builds it from a checked config.

Built on Starlette rather than FastAPI: the proxy needs routing, requests and responses,
not request models, dependency injection or generated OpenAPI docs, and Starlette's
shorter per-request path keeps the proxy's own CPU time per request low (FastAPI is
Starlette plus those layers). Run it with uvicorn (uvloop + httptools when installed),
which ``llmrelay serve`` does.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from .config import ProxyConfig, load_config
from .errors import error_body, type_for_status
from .lean import LeanRequest, LeanResponse
from .limits import OVERLOADED
from .metrics import mark_process_dead
from .request_policy import RouteGate
from .routes import llm, routes
from .sse import json_response
from .startup import StartupError, truthy
from .state import ProxyState

__all__ = ["ProxyApp", "app_from_env", "create_app"]

log = logging.getLogger("llmrelay.proxy")

CONFIG_ENV = "LLMRELAY_CONFIG"


async def _http_error(request: Request, exc: Exception) -> Response:
    status = getattr(exc, "status_code", 500)
    detail = getattr(exc, "detail", None) or "error"
    if status == 404:
        detail = f"Invalid URL ({request.method} {request.url.path})"
    elif status == 405:
        detail = f"Method {request.method} not allowed for {request.url.path}"
    return json_response(error_body(str(detail), type_for_status(status), None, str(status)),
                         status)


async def _server_error(request: Any, exc: Exception) -> Response:
    log.error("llmrelay proxy: unhandled %s on %s", type(exc).__name__,
              request.scope.get("path"), exc_info=exc)
    return json_response(error_body(f"internal error: {type(exc).__name__}", "api_error",
                                    None, "500"), 500)


async def _overloaded(scope: Scope, receive: Receive, send: Send) -> None:
    response = json_response(error_body(
        "the proxy has too many open connections (general_settings.max_connections); retry "
        "shortly", "api_error", None, "too_many_connections"), 503,
        {"retry-after": "1", "connection": "close"})
    await response(scope, receive, send)


class ProxyApp(Starlette):
    """Starlette with a short path for the LLM endpoints: ``POST /v1/chat/completions``,
    ``/v1/completions`` and ``/v1/embeddings`` go straight to their handler, skipping the
    error middlewares, the route table and Starlette's request object (the handler gets a
    :class:`~.lean.LeanRequest` and turns every error into an OpenAI error response
    itself; anything escaping it still becomes the 500 body). Under ``llmrelay serve`` the
    connection calls that short path itself (:meth:`fast_handler`, :meth:`serve_fast`: see
    :mod:`.protocol`). Everything else, and everything once middleware has been added,
    takes Starlette's usual path."""

    _fast = {path: handler for path, handler in (
        ("/v1/chat/completions", llm.chat_completions), ("/v1/completions", llm.completions),
        ("/v1/embeddings", llm.embeddings), ("/chat/completions", llm.chat_completions),
        ("/completions", llm.completions), ("/embeddings", llm.embeddings))}
    gate: RouteGate | None = None  # general_settings.allowed_routes / allowed_ips

    startup_failure: StartupError | None = None

    def fast_handler(self, scope: Scope) -> Any:
        """The LLM handler that serves this HTTP request on the short path, or None when it
        takes the usual one (not a POST to an LLM endpoint, middleware added, a root path,
        over the connection cap, refused by the route gate)."""
        if scope.get(OVERLOADED):
            return None
        handler = self._fast_route(scope)
        if handler is not None and self.gate is not None and self.gate.refuse(scope):
            return None
        return handler

    def _fast_route(self, scope: Scope) -> Any:
        if scope["method"] != "POST" or self.user_middleware or scope.get("root_path"):
            return None
        return self._fast.get(scope["path"])

    async def serve_fast(self, handler: Any, scope: Scope, receive: Receive, send: Send,
                         cycle: Any = None) -> None:
        """Run an LLM handler and send its response. ``cycle``: uvicorn's request cycle of
        this request under ``llmrelay serve``, whose status line and headers the response
        then writes itself, all of it for a whole answer
        (:meth:`~.lean.LeanResponse.write_head`)."""
        request = LeanRequest(self, scope, receive)
        try:
            response = await handler(request)
        except Exception as exc:
            response = await _server_error(request, exc)
        if cycle is not None and isinstance(response, LeanResponse) \
                and response.write_head(cycle):
            if not cycle.response_complete:  # a stream: its body to send
                await response(scope, receive, send, True)
        else:
            await response(scope, receive, send)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get(OVERLOADED):  # beyond general_settings.max_connections (see protocol.py)
            await _overloaded(scope, receive, send)
            return
        kind = scope["type"]
        if kind == "lifespan":
            await self._lifespan(receive, send)
            return
        if kind == "http":
            if self.gate is not None:
                refused = self.gate.refuse(scope)
                if refused is not None:
                    await json_response(refused.body(), refused.status_code)(
                        scope, receive, send)
                    return
            handler = self._fast_route(scope)
            if handler is not None:
                scope["app"] = self
                await self.serve_fast(handler, scope, receive, send)
                return
        await super().__call__(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        """The ASGI lifespan protocol around the app's lifespan, as Starlette runs it, but
        a start that fails is reported as its one-line reason, not a traceback."""
        await receive()  # lifespan.startup
        started = False
        try:
            async with self.router.lifespan_context(self):
                started = True
                await send({"type": "lifespan.startup.complete"})
                await receive()  # lifespan.shutdown
        except Exception as exc:
            failure = exc if isinstance(exc, StartupError) else StartupError(
                f"{type(exc).__name__}: {exc}", 1)
            if not started:
                self.startup_failure = failure
            kind = "shutdown" if started else "startup"
            await send({"type": f"lifespan.{kind}.failed",
                        "message": f"llmrelay: {failure.message}"})
            return
        await send({"type": "lifespan.shutdown.complete"})


def create_app(cfg: ProxyConfig | None = None) -> ProxyApp:
    """The proxy app for ``cfg`` (None: the embedded defaults).

    Builds the app's own client from ``litellm_settings`` and the model table now
    (raising :class:`~llmrelay.proxy.config.ConfigError` for a bad config); the key store
    opens when the app starts (ASGI lifespan) and closes, after a final spend flush, when
    it stops.
    """
    cfg = cfg if cfg is not None else load_config(None)
    state = ProxyState(cfg)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            await state.start()
        except Exception as exc:
            where = cfg.database_url or f"sqlite:///{cfg.sqlite_path}"
            raise StartupError(f"cannot open the database at {_redact(where)}: "
                               f"{type(exc).__name__}: {exc}", 3) from None
        # Objects alive after start (modules, config, tables) never become garbage: moving
        # them out of the collector's view makes every later collection cheaper.
        gc.collect()
        gc.freeze()
        syncing = (asyncio.create_task(_sync_metrics(state), name="llmrelay-metrics-sync")
                   if state.metrics.shared else None)
        try:
            yield
        finally:
            if syncing is not None:
                syncing.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await syncing
            await state.stop()
            mark_process_dead(os.getpid())  # this worker's live gauges leave the sums

    from .routes.passthrough import routes as pass_through
    from .routes.ui import ui_routes

    # a configured pass-through endpoint wins over a built-in route of the same path
    app = ProxyApp(routes=pass_through(cfg.pass_through_endpoints) + routes()
                   + ui_routes(_ui_enabled(cfg)), lifespan=lifespan,
                   exception_handlers={HTTPException: _http_error, Exception: _server_error})
    app.state.proxy = state
    app.gate = RouteGate.from_config(cfg)
    return app


async def _sync_metrics(state: ProxyState, every: float = 1.0) -> None:
    """Multiprocess mode: keep this worker's callback failures and accounting series in
    the shared metrics files (a scrape may reach another worker)."""
    import llmrelay

    while True:
        await asyncio.sleep(every)
        try:
            from .metrics_accounting import accounting_values

            state.metrics.sync(llmrelay.callback_stats(), accounting_values(state))
        except Exception:
            log.debug("llmrelay proxy: syncing metrics failed", exc_info=True)


def _ui_enabled(cfg: ProxyConfig) -> bool:
    """The dashboard is on unless ``general_settings.disable_admin_ui`` or LiteLLM's
    ``$DISABLE_ADMIN_UI`` turns it off."""
    return not (cfg.disable_admin_ui or truthy(os.environ.get("DISABLE_ADMIN_UI")))


def _redact(url: str) -> str:
    """A database URL without its password."""
    head, sep, tail = url.partition("://")
    if not sep or "@" not in tail:
        return url
    creds, _, host = tail.rpartition("@")
    user, sep, _ = creds.partition(":")
    return f"{head}://{user}:***@{host}" if sep else url


def app_from_env() -> Starlette:
    """App factory for uvicorn worker processes (``--workers N``): the config path comes
    from ``$LLMRELAY_CONFIG`` (empty: the embedded defaults)."""
    path = os.environ.get(CONFIG_ENV) or None
    return create_app(load_config(path))
