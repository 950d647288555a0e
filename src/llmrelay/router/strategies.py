"""Routing strategies: which of the available deployments takes the next request.

Every strategy gets only deployments that can take a request now (not cooling down, under
their ``max_parallel_requests``, and for the usage-aware strategies under their rpm/tpm
limits: see :data:`ENFORCES_USAGE_LIMITS`) and picks one; ties are broken at random. Randomness comes from the
:mod:`random` module, so ``random.seed(...)`` makes routing reproducible in tests.

* ``simple-shuffle`` (default): a weighted random pick. The weight is the deployment's
  ``weight``; when no candidate sets one, its ``rpm``; else its ``tpm``; else all are equal.
  A candidate missing the value the others set counts as their mean.
* ``least-busy``: the fewest requests in flight.
* ``latency-based-routing``: a deployment never measured first, else the lowest moving
  average response time (time to the full reply; to the opened stream for streams).
  ``routing_strategy_args``: ``ttl`` (seconds a measured latency counts; older ones are
  forgotten, so a recovered deployment gets tried again) and ``lowest_latency_buffer``
  (``0.1``: any deployment within 10% of the lowest latency may be picked, spreading load).
* ``usage-based-routing`` (also ``usage-based-routing-v2``): the fewest tokens used in the
  last minute; deployments that reached their ``tpm`` were already left out.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .config import Deployment
from .health import Health

__all__ = ["ENFORCES_USAGE_LIMITS", "STRATEGIES", "USES_TOKENS", "choose", "strategy_names",
           "with_args"]

Strategy = Callable[[Sequence[Deployment], Health], Deployment]


def _weights(cands: Sequence[Deployment]) -> list[float] | None:
    for key in ("weight", "rpm", "tpm"):
        values: list[float | None] = [
            None if getattr(d, key) is None else float(getattr(d, key)) for d in cands]
        given = [v for v in values if v is not None]
        if not given:
            continue
        mean = sum(given) / len(given)
        weights = [mean if v is None else v for v in values]
        return weights if sum(weights) > 0 else None
    return None


def simple_shuffle(cands: Sequence[Deployment], health: Health) -> Deployment:
    weights = _weights(cands)
    if weights is None:
        return random.choice(cands)
    return random.choices(cands, weights=weights, k=1)[0]


def _lowest(cands: Sequence[Deployment], score: Callable[[Deployment], float]) -> Deployment:
    scores = [score(d) for d in cands]
    best = min(scores)
    return random.choice([d for d, s in zip(cands, scores, strict=True) if s == best])


def least_busy(cands: Sequence[Deployment], health: Health) -> Deployment:
    return _lowest(cands, lambda d: float(health.in_flight(d.id)))


def lowest_latency(cands: Sequence[Deployment], health: Health, buffer: float = 0.0
                   ) -> Deployment:
    untried = [d for d in cands if health.latency(d.id) is None]
    if untried:
        return random.choice(untried)
    if buffer > 0:
        best = min(health.latency(d.id) or 0.0 for d in cands)
        return random.choice([d for d in cands
                              if (health.latency(d.id) or 0.0) <= best * (1.0 + buffer)])
    return _lowest(cands, lambda d: health.latency(d.id) or 0.0)


def lowest_usage(cands: Sequence[Deployment], health: Health) -> Deployment:
    return _lowest(cands, lambda d: float(health.tokens_used(d.id)))


STRATEGIES: dict[str, Strategy] = {
    "simple-shuffle": simple_shuffle,
    "least-busy": least_busy,
    "latency-based-routing": lowest_latency,
    "usage-based-routing": lowest_usage,
    "usage-based-routing-v2": lowest_usage,
}


# Strategies that rank by tokens used this minute: only for these does the router count
# the tokens of deployments that have no tpm limit.
USES_TOKENS = frozenset({"usage-based-routing", "usage-based-routing-v2"})

# Strategies for which a deployment's rpm/tpm is a limit (a deployment at its limit is left
# out, and a group with none left answers 429); for the others they only weigh the pick,
# as in LiteLLM.
ENFORCES_USAGE_LIMITS = frozenset({"latency-based-routing", "usage-based-routing",
                                   "usage-based-routing-v2", "cost-based-routing"})


# routing_strategy_args each strategy takes (LiteLLM's names). ``ttl`` is read by the
# router's health bookkeeping; the rest is passed to the strategy.
ARGS: dict[str, frozenset[str]] = {
    "latency-based-routing": frozenset({"ttl", "lowest_latency_buffer"}),
}


def with_args(name: str, strategy: Strategy, args: Mapping[str, Any] | None) -> Strategy:
    """``strategy`` with its ``routing_strategy_args`` applied; raises ValueError naming an
    option the strategy does not take."""
    if not args:
        return strategy
    if not isinstance(args, Mapping):
        raise ValueError("routing_strategy_args must be a mapping")
    known = ARGS.get(name, frozenset())
    unknown = sorted(str(k) for k in args if k not in known)
    if unknown:
        raise ValueError(f"routing_strategy_args {', '.join(unknown)} do not apply to "
                         f"{name}" + (f" (it takes: {', '.join(sorted(known))})" if known
                                      else " (it takes none)"))
    buffer = args.get("lowest_latency_buffer")
    if buffer is None:
        return strategy
    if isinstance(buffer, bool) or not isinstance(buffer, (int, float)) or buffer < 0:
        raise ValueError(f"routing_strategy_args.lowest_latency_buffer must be a number "
                         f">= 0, got {buffer!r}")
    return functools.partial(lowest_latency, buffer=float(buffer))


def strategy_names() -> list[str]:
    return sorted(STRATEGIES)


def choose(strategy: Strategy, cands: Sequence[Deployment], health: Health) -> Deployment:
    """The deployment ``strategy`` picks among ``cands`` (one candidate needs no strategy)."""
    if len(cands) == 1:
        return cands[0]
    return strategy(cands, health)
