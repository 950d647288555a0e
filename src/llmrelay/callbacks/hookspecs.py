"""Every hook, declared once: its name, signature, when it fires and how it is delivered.

Delivery kinds:

* ``in-band``  runs on the caller's thread (or awaited on the caller's loop) before the HTTP
  request; it sees ``kwargs["additional_args"]["complete_input_dict"]``. Errors are caught.
* ``observer`` delivered in the background by the dispatcher; never delays the caller.
* ``proxy``    runs on the proxy's request path, in list order; may change data.
* ``router``   fired by the router around fallbacks (observer delivery).
* ``deployment-check`` run by the router on the caller's path just before it sends a request
  to a deployment it picked for a model group; a raise refuses that deployment.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

__all__ = [
    "ALL_HOOKS",
    "EVENTS",
    "FUNCTION_SIGNATURES",
    "PROXY_HOOKS",
    "ROUTER_HOOKS",
    "HookSpec",
    "near_miss",
]


@dataclass(frozen=True)
class HookSpec:
    name: str
    signature: str
    when: str
    kind: str  # "in-band" | "observer" | "proxy" | "router" | "deployment-check"

    @property
    def nargs(self) -> int:
        """How many positional arguments llmrelay passes (besides ``self``)."""
        return self.signature.count(",") + 1


@dataclass(frozen=True)
class EventSpec:
    """A library event and the (sync, async) pair of CustomLogger methods that receive it."""

    event: str
    sync_name: str | None
    async_name: str | None


_OBS = "(kwargs, response_obj, start_time, end_time)"

ALL_HOOKS: dict[str, HookSpec] = {
    h.name: h
    for h in (
        HookSpec("log_pre_api_call", "(model, messages, kwargs)",
                 "just before the HTTP request", "in-band"),
        HookSpec("async_log_pre_api_call", "(model, messages, kwargs)",
                 "just before the HTTP request of an async call", "in-band"),
        HookSpec("log_post_api_call", _OBS, "when the raw response arrives", "observer"),
        HookSpec("log_stream_event", _OBS, "for each streamed chunk (sync call)", "observer"),
        HookSpec("async_log_stream_event", _OBS, "for each streamed chunk (async call)",
                 "observer"),
        HookSpec("log_success_event", _OBS, "once, after a sync call succeeds", "observer"),
        HookSpec("async_log_success_event", _OBS, "once, after an async call succeeds",
                 "observer"),
        HookSpec("log_failure_event", _OBS, "once, after a sync call fails", "observer"),
        HookSpec("async_log_failure_event", _OBS, "once, after an async call fails",
                 "observer"),
        HookSpec("log_success_fallback_event",
                 "(original_model_group, kwargs, original_exception)",
                 "when a router fallback succeeds", "router"),
        HookSpec("log_failure_fallback_event",
                 "(original_model_group, kwargs, original_exception)",
                 "when a router fallback fails", "router"),
        HookSpec("pre_call_check", "(deployment)",
                 "before a sync router call's request to the deployment picked for a model "
                 "group; raise (RateLimitError) to refuse it", "deployment-check"),
        HookSpec("async_pre_call_check", "(deployment, parent_otel_span)",
                 "before an async router call's request to the deployment picked for a "
                 "model group; raise (RateLimitError) to refuse it", "deployment-check"),
        HookSpec("async_pre_call_hook", "(user_api_key_dict, cache, data, call_type)",
                 "before the proxy calls the model; may return new data or a refusal", "proxy"),
        HookSpec("async_moderation_hook", "(data, user_api_key_dict, call_type)",
                 "in parallel with the proxy's model call; a raise cancels it", "proxy"),
        HookSpec("async_post_call_success_hook", "(data, user_api_key_dict, response)",
                 "after a proxy call succeeds; may change or replace the response", "proxy"),
        HookSpec("async_post_call_failure_hook",
                 "(request_data, original_exception, user_api_key_dict)",
                 "after a proxy call fails", "proxy"),
        HookSpec("async_post_call_streaming_hook", "(user_api_key_dict, response)",
                 "for each chunk the proxy streams", "proxy"),
        HookSpec("async_post_call_streaming_iterator_hook",
                 "(user_api_key_dict, response, request_data)",
                 "wraps the whole stream the proxy sends", "proxy"),
    )
}

EVENTS: dict[str, EventSpec] = {
    "pre_api": EventSpec("pre_api", "log_pre_api_call", "async_log_pre_api_call"),
    "post_api": EventSpec("post_api", "log_post_api_call", None),
    "stream": EventSpec("stream", "log_stream_event", "async_log_stream_event"),
    "success": EventSpec("success", "log_success_event", "async_log_success_event"),
    "failure": EventSpec("failure", "log_failure_event", "async_log_failure_event"),
}

PROXY_HOOKS: tuple[str, ...] = tuple(n for n, h in ALL_HOOKS.items() if h.kind == "proxy")
ROUTER_HOOKS: tuple[str, ...] = tuple(n for n, h in ALL_HOOKS.items() if h.kind == "router")

# Plain functions in the callback lists: how each is called, by the list it is in.
FUNCTION_SIGNATURES: dict[str, str] = {
    "input_callback": "(kwargs)",
    "success_callback": _OBS,
    "failure_callback": _OBS,
    "callbacks": _OBS,
}

# Methods of CustomLogger that are not hooks but must not be flagged as misspellings.
_NOT_HOOKS = frozenset({"__init__"})


def near_miss(method_name: str) -> str | None:
    """The hook a method name was probably meant to be, or None.

    Only names that look like hooks (``log_*``, ``async_*``) and are not hooks are checked,
    so helper methods with unrelated names never warn.
    """
    if method_name in ALL_HOOKS or method_name in _NOT_HOOKS:
        return None
    if not method_name.startswith(("log_", "async_", "logsuccess", "logfailure")):
        return None
    for hook in ALL_HOOKS:  # a truncated name: async_log_success -> async_log_success_event
        if hook.startswith(method_name) and len(method_name) >= len(hook) - 7:
            return hook
    close = difflib.get_close_matches(method_name, list(ALL_HOOKS), n=1, cutoff=0.86)
    return close[0] if close else None
