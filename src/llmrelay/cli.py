"""The ``llmrelay`` command.

::

    llmrelay --version
    llmrelay serve [--config F] [--host 127.0.0.1] [--port 4000] [--workers N]
    llmrelay config check [F] [--host H] [--no-db]
    llmrelay keys create [--alias A] [--user-id U] [--team-id T] [--models m1,m2]
                         [--max-budget USD] [--budget-duration 30d] [--rpm N] [--tpm N]
                         [--max-parallel N] [--duration 30d] [--metadata JSON]
    llmrelay keys list [--user-id U] [--team-id T] [--json]
    llmrelay keys revoke KEY [KEY ...]

``llmrelay keys`` talks to a running proxy over HTTP with the master key (``--base-url``,
default ``$LLMRELAY_BASE_URL`` or ``http://127.0.0.1:4000``; ``--master-key``, default
``$LLMRELAY_MASTER_KEY``), so the proxy's key cache learns about updates and revocations
at once and PostgreSQL or SQLite are handled alike.

Exit codes: 0 ok, 1 a request failed (or the address cannot be bound), 2 bad usage or a
config the proxy refuses, 3 the database cannot be opened.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

__all__ = ["main"]

DEFAULT_BASE_URL = "http://127.0.0.1:4000"


def _proxy_step(command: str, path: str | None, step: Callable[[Any], None]) -> int:
    """Load the config at ``path`` and run ``step(cfg)``; a refused config or an unusable
    database is one line on stderr and its exit code (2 or 3), success 0."""
    try:
        from .proxy.config import ConfigError, load_config
        from .proxy.startup import StartupError
    except ImportError as exc:
        print(f"llmrelay {command} needs the proxy extra: pip install 'llmrelay[proxy]' "
              f"({exc})", file=sys.stderr)
        return 2
    try:
        step(load_config(path))
        return 0
    except ConfigError as exc:
        print(f"llmrelay: config error ({path or 'embedded defaults'}): {exc}",
              file=sys.stderr)
        code = 2
    except StartupError as exc:
        print(f"llmrelay: {exc.message}", file=sys.stderr)
        code = exc.exit_code
    if command == "serve":
        print("llmrelay: refusing to start", file=sys.stderr)
    return code


def _serve(args: argparse.Namespace) -> int:
    if args.workers < 1:
        print("llmrelay serve: --workers must be at least 1", file=sys.stderr)
        return 2

    def run(cfg: Any) -> None:
        from .proxy.server import serve

        serve(cfg, host=args.host, port=args.port, workers=args.workers,
              log_level=args.log_level)

    return _proxy_step("serve", args.config, run)


def _config_check(args: argparse.Namespace) -> int:
    """Everything ``serve`` checks before it binds, without serving; prints the summary."""

    def check(cfg: Any) -> None:
        from .proxy.server import preflight

        table = preflight(cfg, args.host, database=not args.no_db).state.proxy.models
        models = table.names() + [p.name for p in table.router.patterns]
        store = "not checked" if args.no_db else "opened"
        print(f"{args.file or 'embedded defaults'}: OK: {len(models)} model name(s) "
              f"({', '.join(models)}); auth {'on' if cfg.master_key else 'OFF'}; "
              f"database {store}")

    return _proxy_step("config", args.file, check)


# ---- keys ---------------------------------------------------------------------------------
def _request(args: argparse.Namespace, method: str, path: str,
             body: dict[str, Any] | None = None) -> Any:
    url = args.base_url.rstrip("/") + path
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if args.master_key:
        req.add_header("Authorization", f"Bearer {args.master_key}")
    try:
        with urllib.request.urlopen(req, timeout=args.timeout) as resp:
            return json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            message = json.loads(raw)["error"]["message"]
        except Exception:
            message = raw.decode("utf-8", "replace")[:500]
        raise SystemExit(f"llmrelay keys: {method} {path} failed with HTTP {exc.code}: "
                         f"{message}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise SystemExit(f"llmrelay keys: cannot reach the proxy at {args.base_url}: "
                         f"{reason} (is `llmrelay serve` running? see --base-url)") from None


def _keys_create(args: argparse.Namespace) -> int:
    body: dict[str, Any] = {}
    for field, value in (("key_alias", args.alias), ("user_id", args.user_id),
                         ("team_id", args.team_id), ("max_budget", args.max_budget),
                         ("budget_duration", args.budget_duration), ("rpm_limit", args.rpm),
                         ("tpm_limit", args.tpm), ("max_parallel_requests", args.max_parallel),
                         ("duration", args.duration), ("key", args.key)):
        if value is not None:
            body[field] = value
    if args.models:
        body["models"] = [m.strip() for m in args.models.split(",") if m.strip()]
    if args.metadata:
        try:
            body["metadata"] = json.loads(args.metadata)
        except ValueError as exc:
            print(f"llmrelay keys create: --metadata is not JSON: {exc}", file=sys.stderr)
            return 2
    out = _request(args, "POST", "/key/generate", body)
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print(out["key"])
        print(f"token (hash): {out.get('token')}  -- the key is shown only once", file=sys.stderr)
    return 0


def _keys_list(args: argparse.Namespace) -> int:
    from urllib.parse import urlencode

    query = {k: v for k, v in (("user_id", args.user_id), ("team_id", args.team_id)) if v}
    path = "/key/list" + ("?" + urlencode(query) if query else "")
    out = _request(args, "GET", path)
    keys = out.get("keys", [])
    if args.json:
        print(json.dumps(keys, indent=2))
        return 0
    cols = ("token", "key_alias", "user_id", "team_id", "spend", "max_budget", "expires",
            "blocked")
    print("\t".join(cols))
    for k in keys:
        row = [k.get("token", "")[:12] + "..."] + [
            "" if k.get(c) is None else str(k.get(c)) for c in cols[1:]]
        print("\t".join(row))
    print(f"{len(keys)} key(s)", file=sys.stderr)
    return 0


def _keys_revoke(args: argparse.Namespace) -> int:
    out = _request(args, "POST", "/key/delete", {"keys": args.keys})
    print(f"revoked {out.get('deleted', 0)} of {len(args.keys)} key(s)")
    return 0 if out.get("deleted", 0) == len(args.keys) else 1


# ---- parser -------------------------------------------------------------------------------
def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="llmrelay", description="llmrelay: an OpenAI-compatible "
                                "LLM gateway. Run `llmrelay <command> --help` for details.")
    from . import __version__

    p.add_argument("--version", action="version", version=f"llmrelay {__version__}")
    sub = p.add_subparsers(dest="command", metavar="command")
    sub.required = True
    s = sub.add_parser("serve", help="run the proxy server",
                       description="Run the OpenAI-compatible proxy. Without --config: the "
                       "mock model plus providers whose API key is in the environment, an "
                       "in-memory cache and ./llmrelay.db (or $LLMRELAY_DATA_DIR/llmrelay.db).")
    s.add_argument("--config", "-c", help="YAML config file (LiteLLM's format)")
    s.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    s.add_argument("--port", "-p", type=int, default=4000,
                   help="port (default 4000); 0 picks a free port, which the banner shows")
    s.add_argument("--workers", "-w", type=int, default=1,
                   help="worker processes sharing the port (default 1); /metrics "
                   "adds up all of them")
    s.add_argument("--log-level", default="warning",
                   choices=["critical", "error", "warning", "info", "debug"],
                   help="uvicorn log level (default warning)")
    s.set_defaults(func=_serve)
    _config_parser(sub)
    _keys_parser(sub)
    return p


def _config_parser(sub: Any) -> None:
    c = sub.add_parser("config", help="check a config file",
                       description="Work with proxy config files (LiteLLM's format).")
    cs = c.add_subparsers(dest="config_command", metavar="action")
    cs.required = True
    k = cs.add_parser("check", help="validate a config without starting the proxy",
                      description="Check a config as `llmrelay serve` does before it "
                      "starts (values, callbacks, model list, master key, database) and "
                      "print the start-up summary; nothing is served. Exit codes: 0 OK, "
                      "2 the config is refused, 3 the database cannot be opened.")
    k.add_argument("file", nargs="?", help="YAML config file (default: the embedded "
                   "defaults)")
    k.add_argument("--host", default="127.0.0.1",
                   help="the address serve would bind (the master key rules depend on it)")
    k.add_argument("--no-db", action="store_true", help="do not open the database")
    k.set_defaults(func=_config_check)


def _keys_parser(sub: Any) -> None:
    k = sub.add_parser("keys", help="manage virtual keys on a running proxy",
                       description="Create, list and revoke virtual keys through a running "
                       "proxy's /key/* endpoints, with the master key.")
    k.add_argument("--base-url", default=os.environ.get("LLMRELAY_BASE_URL", DEFAULT_BASE_URL),
                   help="proxy URL (default $LLMRELAY_BASE_URL or %(default)s)")
    k.add_argument("--master-key", default=os.environ.get("LLMRELAY_MASTER_KEY"),
                   help="master key (default $LLMRELAY_MASTER_KEY)")
    k.add_argument("--timeout", type=float, default=30.0, help="seconds (default 30)")
    ks = k.add_subparsers(dest="keys_command", metavar="action")
    ks.required = True
    c = ks.add_parser("create", help="create a key (prints it once)",
                      description="Create a virtual key; prints the key on stdout.")
    c.add_argument("--alias", help="key_alias")
    c.add_argument("--user-id")
    c.add_argument("--team-id")
    c.add_argument("--models", help="comma-separated model names the key may use (default all)")
    c.add_argument("--max-budget", type=float, help="budget in USD")
    c.add_argument("--budget-duration", help="budget period, e.g. 30d, 1h (spend resets)")
    c.add_argument("--rpm", type=int, help="requests per minute")
    c.add_argument("--tpm", type=int, help="tokens per minute")
    c.add_argument("--max-parallel", type=int, help="max requests in flight")
    c.add_argument("--duration", help="key lifetime, e.g. 30d (default: no expiry)")
    c.add_argument("--metadata", help="JSON object stored with the key")
    c.add_argument("--key", help="use this key instead of a generated one")
    c.add_argument("--json", action="store_true", help="print the whole record as JSON")
    c.set_defaults(func=_keys_create)
    ls = ks.add_parser("list", help="list keys (hashes, never the keys)",
                       description="List virtual keys.")
    ls.add_argument("--user-id")
    ls.add_argument("--team-id")
    ls.add_argument("--json", action="store_true", help="print JSON")
    ls.set_defaults(func=_keys_list)
    r = ks.add_parser("revoke", help="delete keys", description="Delete virtual keys.")
    r.add_argument("keys", nargs="+", help="keys (sk-...) or their tokens (hashes)")
    r.set_defaults(func=_keys_revoke)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``llmrelay`` console script."""
    args = _parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
