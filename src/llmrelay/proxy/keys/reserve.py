"""The worst-case cost of a request, reserved against budgets at admission.

Worst case = the prompt's tokens (estimated from the request: the model's tokenizer when
one is available offline, else about four characters a token) at the input price, plus
the most output the request allows at the output price: ``max_completion_tokens`` or
``max_tokens`` when given, else the model's output limit from the price table, else
:data:`DEFAULT_OUTPUT_TOKENS`; times ``n``. The dearest deployment of the group counts
(the router may pick any). Embeddings have no output. An unpriced model reserves 0.

Only requests of keys with a budget pay for the estimate.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

__all__ = ["DEFAULT_OUTPUT_TOKENS", "worst_case_cost"]

DEFAULT_OUTPUT_TOKENS = 4096


def _prompt_tokens(model: str, call_type: str, data: dict[str, Any]) -> int:
    from ...tokens import token_counter

    try:
        if call_type == "completion":
            messages = data.get("messages")
            return int(token_counter(model=model, messages=messages if isinstance(
                messages, list) else []))
        value = data.get("prompt" if call_type == "text_completion" else "input")
        if isinstance(value, str):
            return int(token_counter(model=model, text=value))
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return int(token_counter(model=model, text=value))
        return len(json.dumps(value, default=str)) // 4 + 1  # token ids, nested lists
    except Exception:
        return len(json.dumps(data, default=str)) // 4 + 1


def _output_tokens(dep: Any, data: dict[str, Any]) -> int:
    for name in ("max_completion_tokens", "max_tokens"):
        value = data.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    from ...cost import lookup

    row = lookup(dep.model_name, dep.provider) or {}
    limit = row.get("max_output_tokens") or row.get("max_tokens")
    return int(limit) if isinstance(limit, (int, float)) and limit > 0 else (
        DEFAULT_OUTPUT_TOKENS)


def worst_case_cost(deployments: Iterable[Any], call_type: str, data: dict[str, Any]) -> float:
    """The most ``data`` can cost on any of ``deployments`` (USD; see the module
    docstring)."""
    n = data.get("n")
    choices = n if isinstance(n, int) and not isinstance(n, bool) and n > 0 else 1
    worst = 0.0
    prompt: int | None = None
    for dep in deployments:
        if prompt is None:
            prompt = _prompt_tokens(dep.model_name, call_type, data)
        out = 0 if call_type == "embeddings" else _output_tokens(dep, data) * choices
        cost = dep.cost({"prompt_tokens": prompt, "completion_tokens": out,
                         "total_tokens": prompt + out})
        if cost is not None and cost > worst:
            worst = float(cost)
    return worst
