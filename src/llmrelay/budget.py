"""Spend limits in the SDK: the process-wide ``llmrelay.max_budget`` and per-user budgets
with :class:`BudgetManager` (LiteLLM's names and behaviour).

``llmrelay.max_budget = 0.50`` makes every module call (``llmrelay.completion`` ...) raise
:class:`~llmrelay.BudgetExceededError` once ``llmrelay._current_cost``, the USD total of the
calls made so far in this process, has gone over it; the call that crosses the line still
completes, as in LiteLLM. Streams add their cost when they finish.

:class:`BudgetManager` keeps per-user budgets (optionally reset daily/weekly/monthly/
yearly) in memory and in a local JSON file: check ``get_current_cost(user) <=
get_total_budget(user)`` (or :meth:`BudgetManager.projected_cost`) before a call and
``update_cost(user, completion_obj=response)`` after it. The proxy has its own, shared and
persistent budgets for virtual keys; this class is for SDK scripts.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from typing import Any

from .exceptions import BudgetExceededError

__all__ = ["DURATIONS", "BudgetManager", "add_spend", "check_budget"]

_LOCK = threading.Lock()
DURATIONS: dict[str, float] = {"daily": 86400.0, "weekly": 7 * 86400.0,
                               "monthly": 30 * 86400.0, "yearly": 365 * 86400.0}


def _module() -> Any:
    return sys.modules["llmrelay"]


def check_budget() -> None:
    """Raise :class:`BudgetExceededError` when ``llmrelay._current_cost`` is over
    ``llmrelay.max_budget`` (no limit when ``max_budget`` is unset or 0)."""
    mod = _module()
    limit = getattr(mod, "max_budget", None)
    if not limit:
        return
    spent = float(getattr(mod, "_current_cost", 0.0) or 0.0)
    if spent > float(limit):
        raise BudgetExceededError(spent, float(limit))


def add_spend(response: Any) -> None:
    """Add a response's cost (``_hidden_params["response_cost"]``) to
    ``llmrelay._current_cost`` when a ``max_budget`` is set."""
    mod = _module()
    if not getattr(mod, "max_budget", None):
        return
    hidden = getattr(response, "_hidden_params", None)
    cost = hidden.get("response_cost") if isinstance(hidden, dict) else None
    if isinstance(cost, (int, float)) and cost > 0:
        with _LOCK:
            mod._current_cost = float(getattr(mod, "_current_cost", 0.0) or 0.0) + cost


def _cost_of(completion_obj: Any, model: str | None, input_text: str,
             output_text: str) -> tuple[str, float]:
    from .cost import completion_cost

    if completion_obj is not None:
        hidden = getattr(completion_obj, "_hidden_params", None)
        cost = hidden.get("response_cost") if isinstance(hidden, dict) else None
        name = model or getattr(completion_obj, "model", None) or "unknown"
        if not isinstance(cost, (int, float)):
            cost = completion_cost(completion_response=completion_obj, model=model)
        return str(name), float(cost)
    if not model:
        raise ValueError("update_cost() needs completion_obj=, or model= with the texts")
    return model, completion_cost(model=model, prompt=input_text, completion=output_text)


class BudgetManager:
    """Per-user budgets for SDK use (see the module docstring).

    ``project_name`` names the budget set; ``client_type="local"`` (the only kind) keeps
    the data in ``path`` (default ``user_cost.json`` in the working directory, LiteLLM's
    file), loaded when it exists and written by :meth:`save_data`.
    """

    def __init__(self, project_name: str, client_type: str = "local",
                 api_base: str | None = None, path: str | None = None) -> None:
        if client_type != "local":
            raise ValueError(f"BudgetManager client_type {client_type!r} is not supported: "
                             "llmrelay keeps budgets locally (client_type='local'); use the "
                             "llmrelay proxy for shared budgets")
        self.project_name = project_name
        self.client_type = client_type
        self.api_base = api_base
        self.path = path or "user_cost.json"
        self._lock = threading.RLock()
        self.user_dict: dict[str, dict[str, Any]] = {}
        self.load_data()

    # ---- storage ----------------------------------------------------------------------------
    def load_data(self) -> None:
        """(Re)load the budgets from :attr:`path` (an absent file means no users)."""
        try:
            with open(self.path, encoding="utf-8") as f:
                data = json.load(f)
        except FileNotFoundError:
            data = {}
        if not isinstance(data, dict):
            raise ValueError(f"{self.path}: expected a JSON object of user -> budget")
        with self._lock:
            self.user_dict = data

    def save_data(self) -> dict[str, str]:
        """Write the budgets to :attr:`path` (atomically: a temp file, then a rename)."""
        with self._lock:
            text = json.dumps(self.user_dict, indent=2)
        tmp = f"{self.path}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, self.path)
        return {"status": "success"}

    # ---- budgets ----------------------------------------------------------------------------
    def create_budget(self, total_budget: float, user: str, duration: str | None = None,
                      created_at: float | None = None) -> dict[str, Any]:
        """Give ``user`` a budget in USD, optionally reset every ``duration`` (``"daily"``,
        ``"weekly"``, ``"monthly"``, ``"yearly"``). Raises ValueError for another duration
        or a negative budget."""
        if duration is not None and duration not in DURATIONS:
            raise ValueError(f"duration must be one of {', '.join(DURATIONS)} or None, "
                             f"got {duration!r}")
        if float(total_budget) < 0:
            raise ValueError(f"total_budget must not be negative, got {total_budget!r}")
        with self._lock:
            entry = self.user_dict.setdefault(user, {"current_cost": 0.0})
            entry["total_budget"] = float(total_budget)
            if duration is not None:
                entry["duration"] = duration
                entry["created_at"] = float(created_at if created_at is not None
                                            else time.time())
                entry["last_updated_at"] = entry["created_at"]
            return {"user": user, **entry}

    def projected_cost(self, model: str, messages: list[Any], user: str) -> float:
        """The user's cost so far plus this prompt's input cost (assuming the model's
        maximum output is not reached, only the prompt is priced)."""
        from .cost import cost_per_token
        from .tokens import token_counter

        prompt_cost, _ = cost_per_token(model, token_counter(model, messages=messages), 0)
        return self.get_current_cost(user) + prompt_cost

    def get_total_budget(self, user: str) -> float:
        """The user's budget; raises KeyError for an unknown user."""
        return float(self._entry(user)["total_budget"])

    def update_cost(self, user: str, completion_obj: Any = None, model: str | None = None,
                    input_text: str = "", output_text: str = "") -> dict[str, str]:
        """Add a call's cost to ``user``: the cost of ``completion_obj`` (a response), or
        of ``input_text``/``output_text`` under ``model``. Raises KeyError for an unknown
        user, NotFoundError for an unpriced model."""
        self.reset_on_duration(user)
        name, cost = _cost_of(completion_obj, model, input_text, output_text)
        with self._lock:
            entry = self._entry(user)
            entry["current_cost"] = float(entry.get("current_cost", 0.0)) + cost
            per_model = entry.setdefault("model_cost", {})
            per_model[name] = float(per_model.get(name, 0.0)) + cost
        return {"user": user, "status": "success"}

    def get_current_cost(self, user: str) -> float:
        """The user's spend so far in USD (0.0 for an unknown user)."""
        with self._lock:
            entry = self.user_dict.get(user)
            return float(entry.get("current_cost", 0.0)) if entry else 0.0

    def get_model_cost(self, user: str) -> dict[str, float]:
        """The user's spend per model."""
        with self._lock:
            entry = self.user_dict.get(user) or {}
            return dict(entry.get("model_cost", {}))

    def is_valid_user(self, user: str) -> bool:
        """Whether ``user`` has a budget."""
        with self._lock:
            return user in self.user_dict

    def get_users(self) -> list[str]:
        with self._lock:
            return list(self.user_dict)

    def reset_cost(self, user: str) -> dict[str, str]:
        """Set the user's spend back to 0."""
        with self._lock:
            entry = self._entry(user)
            entry["current_cost"] = 0.0
            entry["model_cost"] = {}
            entry["last_updated_at"] = time.time()
        return {"user": user, "status": "success"}

    def reset_on_duration(self, user: str) -> None:
        """Reset the user's spend if their budget period has passed."""
        with self._lock:
            entry = self.user_dict.get(user)
            if not entry or entry.get("duration") not in DURATIONS:
                return
            since = float(entry.get("last_updated_at") or entry.get("created_at") or 0.0)
            if time.time() - since >= DURATIONS[entry["duration"]]:
                self.reset_cost(user)

    def update_budget_all_users(self) -> None:
        """Apply :meth:`reset_on_duration` to every user."""
        for user in self.get_users():
            self.reset_on_duration(user)

    def _entry(self, user: str) -> dict[str, Any]:
        try:
            return self.user_dict[user]
        except KeyError:
            raise KeyError(f"user {user!r} has no budget; create one with "
                           f"create_budget(total_budget=..., user={user!r})") from None
