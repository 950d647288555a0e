"""Model prices and capabilities, and the cost of a call.

:data:`model_cost` is the table of ``data/prices/*.json`` (one file per provider; USD per
token, vendors' list prices; ``_meta.json`` says where the figures come from):
a ``dict`` that reads the file on first access (once, under a lock; importing this module
loads nothing) and drops the lookup caches whenever it is changed at the top level. Token
counts follow OpenAI: ``prompt_tokens`` includes cache reads/writes and ``completion_tokens``
includes reasoning tokens (see :func:`cost_per_token`).
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Callable
from typing import Any

from .exceptions import NotFoundError

__all__ = ["PRICING_ARGS", "PROVIDER_PREFIXES", "completion_cost", "cost_per_token", "custom_pricing",
           "get_model_info", "lookup", "model_cost", "normalise_row", "provider_of",
           "register_model", "usage_cost"]

Row = dict[str, Any]

_log = logging.getLogger("llmrelay")
_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "prices")
_LOCK = threading.RLock()
_loaded = False
_MISS: Any = object()
_CACHE_LIMIT = 8192
_SUFFIX = re.compile(r"(?:-\d{4}-\d{2}-\d{2}|[-@]\d{8}|-preview-\d{2}-\d{2}|-\d{3,4}|-latest)$")
# Prefixes that name a provider in "provider/model" strings.
_KNOWN_PROVIDERS = frozenset({
    "openai", "text-completion-openai", "openai_like", "custom_openai", "azure", "azure_ai",
    "anthropic", "gemini", "vertex_ai", "mistral", "deepseek", "groq", "together_ai",
    "openrouter", "fireworks_ai", "perplexity", "xai", "hosted_vllm", "lm_studio", "ollama",
    "ollama_chat", "bedrock", "cohere", "mock", "vllm", "nvidia_nim", "cerebras", "sambanova"})
PROVIDER_PREFIXES = _KNOWN_PROVIDERS
_LIMITS = ("max_input_tokens", "max_output_tokens", "input_cost_per_token",
           "output_cost_per_token")
_FLAGS = ("supports_function_calling", "supports_vision", "supports_response_schema",
          "supports_prompt_caching", "supports_reasoning", "supports_assistant_prefill")
_COST_FIELDS = ("input_cost_per_token", "output_cost_per_token", "cache_read_input_token_cost",
                "cache_creation_input_token_cost", "cache_creation_input_token_cost_above_1hr",
                "output_cost_per_reasoning_token")
# Call arguments (and deployment settings) that say how a call is priced, never sent upstream.
PRICING_ARGS = frozenset({"base_model", *_COST_FIELDS, "input_cost_per_second",
                          "output_cost_per_second"})
# Bedrock cross-region inference profiles: ``us.anthropic.claude-...`` runs that model.
_REGION_PROFILE = re.compile(r"^(?:us|eu|apac|global|us-gov|jp|au|ca)\.([a-z0-9-]+\..+)$")
# A long-context price: ``<cost field>_above_<N>k_tokens`` applies when the prompt has more
# than N*1000 tokens (Gemini Pro above 200k/128k, Claude Sonnet 4/4.5 above 200k).
_TIER = re.compile(r"^(.+)_above_(\d+)k_tokens$")

_resolved: dict[tuple[str, str | None], tuple[str, Row] | None] = {}
_providers: dict[str, str | None] = {}
_warned: set[str] = set()


class _PriceTable(dict[str, Row]):
    """A ``dict`` of model name -> row that loads ``data/prices/`` on first access."""

    __slots__ = ()


def _wrap(name: str, mutates: bool) -> Callable[..., Any]:
    method = getattr(dict, name)

    def wrapper(self: _PriceTable, *args: Any, **kwargs: Any) -> Any:
        if not _loaded:
            _load()
        if not mutates:
            return method(self, *args, **kwargs)
        with _LOCK:
            try:
                return method(self, *args, **kwargs)
            finally:
                _invalidate()

    wrapper.__name__ = name
    return wrapper


for _name in ("__getitem__", "__contains__", "__iter__", "__len__", "__repr__", "__eq__",
              "__ne__", "__or__", "__ror__", "__reversed__", "get", "keys", "values", "items",
              "copy"):
    setattr(_PriceTable, _name, _wrap(_name, False))
for _name in ("__setitem__", "__delitem__", "__ior__", "update", "setdefault", "pop",
              "popitem", "clear"):
    setattr(_PriceTable, _name, _wrap(_name, True))

model_cost: dict[str, Row] = _PriceTable()
_TABLE = model_cost  # register_model's parameter shadows the public name
_dget = dict.get


def _invalidate() -> None:
    _resolved.clear()
    _providers.clear()


def _load() -> dict[str, Row]:
    """Read ``data/prices/*.json`` into :data:`model_cost` (once; thread-safe); return the
    table. Files are read in name order; a key in two files is a packaging error (the
    table's check test refuses it)."""
    global _loaded
    with _LOCK:
        if not _loaded:
            import json

            for name in sorted(os.listdir(_DIR)):
                if name.endswith(".json") and not name.startswith("_"):
                    with open(os.path.join(_DIR, name), encoding="utf-8") as f:
                        dict.update(_TABLE, json.load(f)["models"])
            _invalidate()
            _loaded = True
    return _TABLE


def _prefix(model: str) -> str | None:
    """The known provider named by ``model``'s ``provider/`` prefix, if any."""
    head, sep, _ = model.partition("/")
    return head if sep and head in _KNOWN_PROVIDERS else None


def _strip_suffix(name: str) -> str:
    """``name`` without one trailing date/version/``-latest`` suffix."""
    return _SUFFIX.sub("", name)


def _resolve(model: str, provider: str | None) -> tuple[str, Row] | None:
    """(key, row) for a model string, or None; uncached, see :func:`lookup` for the order."""
    if not isinstance(model, str) or not model:
        return None
    table = _TABLE if _loaded else _load()
    if provider and not model.startswith(provider + "/"):
        own = _dget(table, f"{provider}/{model}")  # the provider's own price wins
        if isinstance(own, dict):
            return f"{provider}/{model}", own
    row = _dget(table, model)
    if isinstance(row, dict):
        return model, row
    name = model
    if provider and name.startswith(provider + "/"):
        name = name[len(provider) + 1:]
    head, sep, rest = name.partition("/")
    if sep and head in _KNOWN_PROVIDERS and (provider is None or head == provider):
        provider, name = head, rest
    if name.startswith("ft:") and name.count(":") >= 2:  # ft:<base>:<org>:<suffix>:<id>
        base = name.split(":")[1]  # a fine-tune is priced by its base's fine-tune row
        return _resolve(f"ft:{base}", provider) or _resolve(base, provider)
    bases = [name]
    if "gpt-35" in name:  # Azure spells gpt-3.5 as gpt-35
        bases.append(name.replace("gpt-35", "gpt-3.5"))
    regional = _REGION_PROFILE.match(name)
    if regional:  # a Bedrock cross-region profile without its own row: the model's row
        bases.append(regional.group(1))
    for base in bases:
        stem = _strip_suffix(base)
        for cand in dict.fromkeys((base, stem, stem + "-latest")):
            for key in (f"{provider}/{cand}", cand) if provider else (cand,):
                row = _dget(table, key)
                if isinstance(row, dict):
                    return key, row
    # "claude-3-haiku" -> the newest dated key of that family ("claude-3-haiku-20240307")
    for base in bases:
        stem = _strip_suffix(base)
        dated = [k for k in table if k != stem and k.startswith(stem)
                 and k[len(stem)] in "-@" and not k.endswith("-latest")
                 and _strip_suffix(k) == stem]
        if dated:
            key = max(dated)
            return key, table[key]
    return None


def _cached(model: str, provider: str | None) -> tuple[str, Row] | None:
    key = (model, provider)
    hit = _resolved.get(key, _MISS)
    if hit is _MISS:
        hit = _resolve(model, provider)
        if len(_resolved) >= _CACHE_LIMIT:
            _resolved.clear()
        _resolved[key] = hit
    return hit  # type: ignore[no-any-return]


def lookup(model: str, provider: str | None = None) -> Row | None:
    """A copy of the row for ``model``, or None; never raises. Tried in order: ``model`` as
    given; ``provider/name`` then ``name`` (known ``provider/`` prefix stripped, Azure's
    ``gpt-35`` read as ``gpt-3.5``), each also with one date/version suffix removed
    (``-2024-08-06``, ``-20240620``, ``-0613``, ``-001``) or ``-latest`` added; finally the
    newest dated key of the family (``claude-3-haiku`` -> ``claude-3-haiku-20240307``)."""
    try:
        hit = _cached(model, provider)
    except Exception:  # a broken table must not break a call
        _log.debug("price lookup failed for %r", model, exc_info=True)
        return None
    return dict(hit[1]) if hit is not None else None


def provider_of(model: str) -> str | None:
    """The provider of ``model`` per the price table (None if unknown); a known ``provider/``
    prefix wins over the row (``azure/gpt-4o`` -> azure). Cached: one dict lookup per call."""
    hit = _providers.get(model, _MISS)
    if hit is not _MISS:
        return hit  # type: ignore[no-any-return]
    try:
        found = _cached(model, None)
        result = None if found is None else _prefix(model) or found[1].get("provider")
    except Exception:
        result = None
    if len(_providers) >= _CACHE_LIMIT:
        _providers.clear()
    _providers[model] = result
    return result


def _tiered(row: Row, prompt: int) -> Row:
    """``row`` with each price replaced by its highest ``*_above_<N>k_tokens`` tier that
    ``prompt`` exceeds (the vendors charge the whole call at the long-context rate)."""
    best: dict[str, tuple[int, Any]] = {}
    for key, value in row.items():
        if "_above_" not in key or value is None:
            continue
        m = _TIER.match(key)
        if m is None:
            continue
        limit = int(m.group(2)) * 1000
        if prompt > limit and limit >= best.get(m.group(1), (-1, None))[0]:
            best[m.group(1)] = (limit, value)
    if not best:
        return row
    return {**row, **{field: value for field, (_, value) in best.items()}}


def _price(row: Row, prompt: int, completion: int, cache_read: int, cache_write: int,
           reasoning: int, write_1h: int = 0) -> tuple[float, float] | None:
    """(prompt USD, completion USD) for counts under ``row``; None if the row has no price.

    ``write_1h`` is the part of ``cache_write`` written with Anthropic's one-hour TTL."""
    if prompt > 1000:
        row = _tiered(row, prompt)
    inp, out = row.get("input_cost_per_token"), row.get("output_cost_per_token")
    if inp is None and out is None:
        return None
    inp, out = float(inp or 0.0), float(out or 0.0)
    read_price = row.get("cache_read_input_token_cost")
    write_price = row.get("cache_creation_input_token_cost")
    write_price = inp if write_price is None else float(write_price)
    cache_read, cache_write = max(cache_read, 0), max(cache_write, 0)
    write_1h = min(max(write_1h, 0), cache_write)
    hour_price = row.get("cache_creation_input_token_cost_above_1hr")
    prompt_cost = (max(prompt - cache_read - cache_write, 0) * inp
                   + cache_read * (inp if read_price is None else float(read_price))
                   + (cache_write - write_1h) * write_price
                   + write_1h * (write_price if hour_price is None else float(hour_price)))
    completion = max(completion, 0)
    reasoning_price = row.get("output_cost_per_reasoning_token")
    if reasoning_price is None or reasoning <= 0:
        return prompt_cost, completion * out
    reasoning = min(reasoning, completion)
    return prompt_cost, reasoning * float(reasoning_price) + (completion - reasoning) * out


def _priced(model: str, provider: str | None, counts: tuple[int, ...]) -> tuple[float, float]:
    """:func:`_price` for ``model``; raises NotFoundError when it has no priced row."""
    found = _cached(model, provider)
    priced = None if found is None else _price(found[1], *counts)
    if priced is None:
        raise NotFoundError(
            f"model {model!r} has no price in llmrelay's table; add one with "
            "llmrelay.register_model({name: {'input_cost_per_token': ..., "
            "'output_cost_per_token': ...}})", model=model, llm_provider=provider)
    return priced


def cost_per_token(model: str, prompt_tokens: int = 0, completion_tokens: int = 0, *,
                   cache_read_input_tokens: int = 0, cache_creation_input_tokens: int = 0,
                   reasoning_tokens: int = 0, cache_creation_1h_input_tokens: int = 0,
                   custom_llm_provider: str | None = None) -> tuple[float, float]:
    """(prompt cost, completion cost) in USD for the given token counts.

    ``prompt_tokens`` includes the cache reads and writes: ``prompt_tokens - cache_read -
    cache_creation`` (never below 0) is charged at ``input_cost_per_token``, cache reads at
    ``cache_read_input_token_cost`` and writes at ``cache_creation_input_token_cost`` (each
    falling back to the input price); ``cache_creation_1h_input_tokens``, the part of the
    writes made with a one-hour TTL, at ``cache_creation_input_token_cost_above_1hr``.
    ``completion_tokens`` includes ``reasoning_tokens``, which cost
    ``output_cost_per_reasoning_token`` where the row has one. A prompt longer than a row's
    long-context threshold is priced at the ``*_above_<N>k_tokens`` prices. Raises
    :class:`~llmrelay.exceptions.NotFoundError` when the model has no priced row.
    """
    return _priced(model, custom_llm_provider, (
        prompt_tokens, completion_tokens, cache_read_input_tokens, cache_creation_input_tokens,
        reasoning_tokens, cache_creation_1h_input_tokens))


def _get(obj: Any, name: str) -> Any:
    if isinstance(obj, dict):
        return obj.get(name)
    return getattr(obj, name, None)


def _counts(usage: Any) -> tuple[int, int, int, int, int, int]:
    """(prompt, completion, cache read, cache write, reasoning, one-hour cache write) from a
    usage object or dict."""
    if usage is None:
        return 0, 0, 0, 0, 0, 0
    prompt = int(_get(usage, "prompt_tokens") or 0)
    completion = int(_get(usage, "completion_tokens") or 0)
    details = _get(usage, "prompt_tokens_details")
    read = _get(usage, "cache_read_input_tokens")
    if read is None:  # Anthropic-style counts are authoritative when present
        read = _get(details, "cached_tokens")
    if not read:  # DeepSeek reports its cache hits on their own
        read = _get(usage, "prompt_cache_hit_tokens")
    write = _get(usage, "cache_creation_input_tokens")
    write_1h = _get(_get(details, "cache_creation_token_details"), "ephemeral_1h_input_tokens")
    reasoning = _get(_get(usage, "completion_tokens_details"), "reasoning_tokens")
    return (prompt, completion, int(read or 0), int(write or 0), int(reasoning or 0),
            int(write_1h or 0))


def _overlay(prices: dict[str, Row], model: str, provider: str | None) -> tuple[str, Row] | None:
    """A client's own price row for ``model`` (``model`` or ``provider/model``), or None."""
    keys = (model, f"{provider}/{model}") if provider else (model,)
    for key in keys:
        row = prices.get(key)
        if isinstance(row, dict):
            return key, normalise_row(key, row)
    return None


def price_row(model: str, provider: str | None,
              prices: dict[str, Row] | None = None) -> Row | None:
    """The row pricing ``model`` (a client's ``prices`` first, then the table), or None;
    never raises. The row is shared: do not change it."""
    try:
        found = _overlay(prices, model, provider) if prices else None
        if found is None:
            found = _cached(model, provider)
    except Exception:
        _log.debug("price lookup failed for %r", model, exc_info=True)
        return None
    return None if found is None else found[1]


def usage_cost(model: str, provider: str | None, usage: Any,
               prices: dict[str, Row] | None = None, *, base_model: str | None = None,
               custom: Row | None = None) -> float | None:
    """Total USD cost of one call's ``usage``, or None when the model is unpriced.

    ``usage`` is an object or dict with ``prompt_tokens``/``completion_tokens`` and optionally
    ``prompt_tokens_details.cached_tokens``, ``completion_tokens_details.reasoning_tokens``,
    ``cache_read_input_tokens`` and ``cache_creation_input_tokens`` (the last two, when
    present, take precedence over ``cached_tokens``), DeepSeek's ``prompt_cache_hit_tokens``
    and Anthropic's one-hour cache writes in
    ``prompt_tokens_details.cache_creation_token_details.ephemeral_1h_input_tokens``. Never
    raises; logs one warning per unpriced model name on the ``llmrelay`` logger.
    ``prices`` (a client's ``model_prices``) is consulted before the global table;
    ``base_model`` prices the call as that model, ``custom`` (a price row of the call or its
    deployment, see :func:`custom_pricing`) wins over both.
    """
    if base_model:
        model = base_model
    if custom is not None:
        prices = {**(prices or {}), model: custom}
    try:
        found = _overlay(prices, model, provider) if prices else None
        if found is None:
            found = _cached(model, provider)
        priced = None if found is None else _price(found[1], *_counts(usage))
    except Exception:
        _log.debug("could not compute cost for %r", model, exc_info=True)
        return None
    if priced is not None:
        return priced[0] + priced[1]
    with _LOCK:
        first = model not in _warned
        _warned.add(model)
    if first:
        _log.warning("no price known for model %r (provider %s); its cost is "
                     "reported as None. Add a row with llmrelay.register_model().",
                     model, provider)
    return None


def _response_text(response: Any) -> str:
    """The reply text of a chat or text completion, tool-call arguments included."""
    parts: list[Any] = []
    for choice in _get(response, "choices") or ():
        message = _get(choice, "message")
        parts.append(_get(choice, "text") if message is None else _get(message, "content"))
        parts += [_get(_get(c, "function"), "arguments") for c in _get(message, "tool_calls") or ()]
    return "".join(p for p in parts if isinstance(p, str))


def completion_cost(completion_response: Any = None, model: str | None = None, prompt: str = "",
                    completion: str = "", custom_llm_provider: str | None = None,
                    messages: list[dict[str, Any]] | None = None, call_type: str | None = None,
                    size: str | None = None, quality: str | None = None, n: int | None = None,
                    **_: Any) -> float:
    """USD cost of a response object, or of ``prompt``/``completion`` text when none is given.

    A response's own ``usage`` is used when it has any tokens; otherwise tokens are estimated
    with :func:`llmrelay.tokens.token_counter` (``prompt``/``messages`` and the reply text).
    Images, transcriptions, speech and rerank (by ``call_type``, or the response's class)
    are priced per image (``size``, ``quality``, ``n``), second, character of ``prompt`` or
    search unit (see :mod:`llmrelay.cost_units`). A cache hit
    (``_hidden_params["cache_hit"]``) costs 0.0. ``model`` and ``custom_llm_provider``
    override what the response says (a ``model`` without a price falls back to the
    response's own). Raises ValueError when no model can be found,
    :class:`~llmrelay.exceptions.NotFoundError` when the model is unpriced.
    """
    usage: Any = None
    fallback = None
    if completion_response is not None:
        hidden = _get(completion_response, "_hidden_params")
        if not isinstance(hidden, dict):
            hidden = {}
        if hidden.get("cache_hit"):
            return 0.0
        own = _get(completion_response, "model") or hidden.get("model")
        fallback = own if isinstance(own, str) and own != model else None
        model = model or own
        custom_llm_provider = custom_llm_provider or hidden.get("custom_llm_provider")
        usage = _get(completion_response, "usage")
    if not model:
        raise ValueError("completion_cost() needs a response with a model, or model=")
    if fallback and _cached(model, custom_llm_provider) is None:
        model = fallback  # e.g. an Azure deployment name: price the model that answered
    from .cost_units import unit_kind

    unit = unit_kind(call_type, completion_response)
    if unit is not None:
        from .cost_units import unit_cost

        found = unit_cost(unit, model, custom_llm_provider, completion_response,
                          params={"size": size, "quality": quality, "n": n}, input=prompt)
        if found is None:
            raise NotFoundError(f"model {model!r} has no {unit} price in llmrelay's table; "
                                "add one with llmrelay.register_model()", model=model,
                                llm_provider=custom_llm_provider)
        return found
    counts = _counts(usage)
    if counts[0] == 0 and counts[1] == 0:
        from .tokens import token_counter

        completion = completion or _response_text(completion_response)
        counts = (token_counter(model, messages=messages, text=prompt or None),
                  token_counter(model, text=completion), 0, 0, 0, 0)
    return sum(_priced(model, custom_llm_provider, counts))


def custom_pricing(*sources: Any) -> tuple[str | None, Row | None]:
    """How a call is priced when its arguments or its deployment say so, as LiteLLM reads
    them: ``base_model`` (price as that model) and custom prices (any price field such as
    ``input_cost_per_token`` / ``output_cost_per_token``). ``sources`` are mappings
    (the call's keyword arguments, a deployment's ``litellm_params``, its ``model_info``),
    the first that sets a key wins. Returns ``(base_model or None, row or None)``."""
    base: str | None = None
    row: Row = {}
    for source in sources:
        if not isinstance(source, dict) or not source:
            continue
        if base is None and isinstance(source.get("base_model"), str):
            base = source["base_model"]
        for field in _COST_FIELDS:
            value = source.get(field)
            if value is not None and field not in row:
                row[field] = float(value)
    return base, (row or None)


def normalise_row(key: str, row: Row) -> Row:
    """A registered row in our field names (``litellm_provider`` -> ``provider``, ...)."""
    out = dict(row)
    litellm_provider = out.pop("litellm_provider", None)
    provider = out.get("provider") or litellm_provider or _prefix(key)
    if provider:
        out["provider"] = provider
    if "max_output_tokens" not in out and isinstance(out.get("max_tokens"), int):
        out["max_output_tokens"] = out["max_tokens"]
    for field, value in out.items():
        if isinstance(value, str) and (field in _COST_FIELDS or _TIER.match(field)):
            out[field] = float(value)
    return out


def register_model(model_cost: dict[str, Row] | str) -> None:
    """Add rows to the price table, or merge fields into existing rows of the same key.

    ``model_cost`` maps model name -> row (our field names; a LiteLLM-style
    ``litellm_provider`` is read as ``provider``), or is the path of a local JSON file holding
    such a mapping or a document shaped like ``data/prices/<provider>.json`` (nothing is fetched). Raises
    TypeError when a row is not a dict, OSError/ValueError for an unreadable file.
    """
    rows: Any = model_cost
    if isinstance(rows, str):
        import json

        with open(rows, encoding="utf-8") as f:
            rows = json.load(f)
        if isinstance(rows, dict) and isinstance(rows.get("models"), dict):
            rows = rows["models"]
    if not isinstance(rows, dict):
        raise TypeError("register_model() takes a dict of model name -> row, or a JSON path")
    rows = {k: v for k, v in rows.items() if k != "_meta"}
    bad = [k for k, v in rows.items() if not isinstance(v, dict)]
    if bad:
        raise TypeError(f"register_model(): the rows for {bad!r} are not dicts")
    if not _loaded:
        _load()
    with _LOCK:
        for key, row in rows.items():
            new, old = normalise_row(key, row), _dget(_TABLE, key)
            dict.__setitem__(_TABLE, key, {**old, **new} if isinstance(old, dict) else new)
        _invalidate()


def get_model_info(model: str, custom_llm_provider: str | None = None) -> Row:
    """A copy of ``model``'s row plus ``key``, ``provider`` and ``max_tokens`` (=
    ``max_output_tokens``); absent ``supports_*`` flags read False, absent limits and prices
    None. Raises :class:`~llmrelay.exceptions.NotFoundError` naming an unknown model."""
    found = _cached(model, custom_llm_provider)
    if found is None:
        raise NotFoundError(
            f"model {model!r} is not in llmrelay's model table; add it with "
            "llmrelay.register_model()", model=model, llm_provider=custom_llm_provider)
    key, row = found
    info: Row = {**dict.fromkeys(_LIMITS), **dict.fromkeys(_FLAGS, False), "mode": "chat",
                 **row, "key": key}
    provider = custom_llm_provider or _prefix(model) or row.get("provider")
    info["provider"] = info["litellm_provider"] = provider
    info["max_tokens"] = info["max_output_tokens"]
    return info
