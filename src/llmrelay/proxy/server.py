"""``llmrelay serve``: check the config, print how to call the proxy, run uvicorn.

uvicorn runs with uvloop and httptools when they are installed (the ``proxy`` extra has
them) and without its access log (the proxy's spend logs and metrics cover requests).
``workers > 1`` starts that many processes sharing the port; each loads the config
(``$LLMRELAY_CONFIG``) and keeps its own key cache, and all share the database. Their
metrics are shared through ``prometheus_client``'s multiprocess mode: ``serve`` sets
``$PROMETHEUS_MULTIPROC_DIR`` to a fresh directory (removed at exit) unless it is set
already, so that ``/metrics`` adds up every worker's numbers whichever worker answers.
"""

from __future__ import annotations

import importlib.util
import inspect
import os
import shutil
import socket
import sys
import tempfile
from typing import Any, TextIO

from .app import CONFIG_ENV, create_app
from .config import ConfigError, ProxyConfig
from .metrics import MULTIPROC_ENV
from .startup import check_database, master_key_problem, summary

__all__ = ["banner", "listen", "preflight", "serve"]


def _display_host(host: str) -> str:
    if host in ("0.0.0.0", "", "::", "[::]"):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def banner(cfg: ProxyConfig, host: str, port: int, workers: int) -> str:
    """What ``llmrelay serve`` prints at start: where, what, and two ready-to-paste calls."""
    import llmrelay

    url = f"http://{_display_host(host)}:{port}"
    models = cfg.model_names()
    chat = next((m for m in models if "embedding" not in m), models[0])
    if cfg.database_url:
        from .app import _redact

        store = _redact(cfg.database_url)
    else:
        store = f"SQLite file {os.path.abspath(cfg.sqlite_path)}"
    key = "$LLMRELAY_MASTER_KEY" if cfg.master_key else "sk-anything"
    sdk_key = ('os.environ["LLMRELAY_MASTER_KEY"]' if cfg.master_key else '"sk-anything"')
    fast = "uvloop+httptools" if _has("uvloop") and _has("httptools") else "asyncio+h11"
    lines = [
        f"llmrelay {llmrelay.__version__} proxy on {url}  "
        f"({workers} worker{'s' if workers != 1 else ''}, {fast})",
        f"  config : {cfg.path or 'embedded defaults'}",
        f"  models : {', '.join(models)}",
        f"  keys   : {store}",
        f"  cache  : {'on' if cfg.cache else 'off'}",
    ]
    if cfg.master_key:
        lines.append("  auth   : master key or virtual keys required "
                     "(Authorization: Bearer <key>)")
    else:
        lines += ["", "  WARNING: no master key is set, so AUTHENTICATION IS OFF: anyone who "
                  "can reach", f"  {url} can use every model. Set general_settings.master_key "
                  "or LLMRELAY_MASTER_KEY", "  (16+ characters) to require keys."]
    body = (f'{{"model": "{chat}", "messages": [{{"role": "user", "content": "Hello"}}]}}')
    lines += [
        "",
        "Try it:",
        f"  curl {url}/v1/chat/completions \\",
        f'    -H "Authorization: Bearer {key}" -H "Content-Type: application/json" \\',
        f"    -d '{body}'",
        "",
        *(["  import os"] if cfg.master_key else []),
        "  from openai import OpenAI",
        f'  client = OpenAI(base_url="{url}/v1", api_key={sdk_key})',
        f'  r = client.chat.completions.create(model="{chat}", '
        'messages=[{"role": "user", "content": "Hello"}])',
        "  print(r.choices[0].message.content)",
        "",
    ]
    return "\n".join(lines)


def _http() -> Any:
    """uvicorn's HTTP protocol: httptools with the proxy's read deadlines and caps (see
    :mod:`.protocol`), or uvicorn's h11 fallback without them (with a warning)."""
    if _has("httptools"):
        from .protocol import GuardedHttpToolsProtocol

        return GuardedHttpToolsProtocol
    print("llmrelay: warning: httptools is not installed, so request header/body "
          "timeouts and the header size and connection caps are off: pip install "
          "'llmrelay[proxy]'", file=sys.stderr, flush=True)
    return "h11"


def _has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host``:``port`` (port 0: a free port the system picks).

    Bound here, before the banner is printed, so that the banner shows the real port and
    a port already in use is reported before anything claims the proxy is running.
    Raises OSError when the address cannot be bound."""
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    family = socket.AF_INET6 if ":" in bare else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((bare, port))
        sock.listen(2048)
        sock.set_inheritable(True)  # worker processes serve it too
    except BaseException:
        sock.close()
        raise
    return sock


def preflight(cfg: ProxyConfig, host: str, *, database: bool = True) -> Any:
    """Everything checked before the proxy binds and prints its banner: the config as the
    app builds it, the master key, the database; then prints the start-up summary.
    Returns the app. Raises ConfigError, or StartupError for the database."""
    app = create_app(cfg)  # builds the model table and callbacks: every config check
    problem = master_key_problem(cfg, host)
    if problem is not None:
        raise ConfigError(problem)
    if database:
        check_database(cfg)
    for line in summary(cfg, host):
        print(f"llmrelay: {line}", file=sys.stderr, flush=True)
    return app


def serve(cfg: ProxyConfig, host: str = "127.0.0.1", port: int = 4000, workers: int = 1,
          out: TextIO | None = None, log_level: str = "warning") -> None:
    """Run the proxy until interrupted. Before binding, :func:`preflight` raises
    ConfigError when the config cannot be used (or its master key is weak) and
    StartupError when the database cannot be opened. ``port`` 0 picks a free port (the
    banner names it). Exits with status 1 when the address cannot be bound or the app
    fails to start."""
    import uvicorn

    out = out or sys.stdout
    app = preflight(cfg, host)
    try:
        sock = listen(host, port)
    except OSError as exc:
        print(f"llmrelay: cannot listen on {_display_host(host)}:{port}: "
              f"{exc.strerror or exc}", file=sys.stderr, flush=True)
        raise SystemExit(1) from None
    port = int(sock.getsockname()[1])
    options: dict[str, Any] = {"host": host, "port": port, "log_level": log_level,
                               "access_log": False, "loop": "auto", "http": _http(),
                               "lifespan": "on", "server_header": False,
                               "ws": "none",  # no WebSocket routes: uvicorn skips its import
                               # X-Forwarded-For is general_settings.use_x_forwarded_for's
                               # business (request_policy.py), not uvicorn's middleware
                               "proxy_headers": False,
                               "timeout_graceful_shutdown": 10}
    print(banner(cfg, host, port, workers), file=out, flush=True)
    if not cfg.master_key:
        print("llmrelay: WARNING: authentication is OFF (no master key configured)",
              file=sys.stderr, flush=True)
    with sock:
        if workers > 1:
            os.environ[CONFIG_ENV] = os.path.abspath(cfg.path) if cfg.path else ""
            os.environ["LLMRELAY_WORKERS"] = str(workers)  # limits shared on the machine
            config = uvicorn.Config("llmrelay.proxy.app:app_from_env", factory=True,
                                    workers=workers, **options)
            made = _metrics_dir()
            try:
                _run_workers(config, sock)
            finally:
                if made is not None:
                    os.environ.pop(MULTIPROC_ENV, None)
                    shutil.rmtree(made, ignore_errors=True)
            return
        config = uvicorn.Config(app, **options)
        server = uvicorn.Server(config)
        try:
            server.run(sockets=[sock])
        except KeyboardInterrupt:
            pass
        if not server.started:
            failure = getattr(app, "startup_failure", None)
            raise SystemExit(failure.exit_code if failure is not None else 1)


def _metrics_dir() -> str | None:
    """Before the workers start: a fresh, empty ``$PROMETHEUS_MULTIPROC_DIR`` (returned, to
    be removed at exit), or None when the user set one (kept; warned about if not empty,
    as an earlier run's numbers would be added in)."""
    given = os.environ.get(MULTIPROC_ENV)
    if given:
        try:
            stale = any(name.endswith(".db") for name in os.listdir(given))
        except OSError as exc:
            print(f"llmrelay: warning: {MULTIPROC_ENV}={given}: {exc.strerror or exc}",
                  file=sys.stderr, flush=True)
            return None
        if stale:
            print(f"llmrelay: warning: {MULTIPROC_ENV}={given} is not empty: /metrics adds "
                  "in the numbers left there by earlier runs", file=sys.stderr, flush=True)
        return None
    made = tempfile.mkdtemp(prefix="llmrelay-metrics-")
    os.environ[MULTIPROC_ENV] = made
    return made


def _run_workers(config: Any, sock: socket.socket) -> None:
    """uvicorn's process supervisor on our socket (its constructor changed in 0.3x)."""
    from uvicorn.supervisors import Multiprocess

    supervisor: Any = Multiprocess  # older uvicorn also takes the server's run as target
    try:
        if "target" in inspect.signature(Multiprocess).parameters:
            import uvicorn

            supervisor(config, target=uvicorn.Server(config).run, sockets=[sock]).run()
        else:
            supervisor(config, sockets=[sock]).run()
    except KeyboardInterrupt:
        pass
