"""Which model group serves a requested model name: the group of that name, an alias of a
group (``model_group_alias``), or a wildcard group.

A wildcard group is a ``model_list`` entry whose ``model_name`` contains ``*``: ``"*"``
(any model), ``"anthropic/*"``, ``"my-prefix/*"``. A request for ``anthropic/claude-x``
matches ``anthropic/*`` with ``claude-x`` in place of the ``*``; each ``*`` in the entry's
``litellm_params.model`` is replaced by the matched text in turn (``model: "*"`` takes the
whole requested name, so a ``"*"`` entry sends any model to the provider its name implies,
with that provider's key from the environment unless the entry gives one). When several
wildcard groups match, the most specific (most literal characters) wins; a group named
exactly wins over every wildcard. Matching names get their own group of deployments,
made on first use and kept for the most recent :data:`MAX_DERIVED` names.

Aliases: ``{"gpt-4": "gpt-4o"}`` or ``{"gpt-4": {"model": "gpt-4o", "hidden": true}}``
(hidden aliases work but are not listed). An alias that names an existing group does not
shadow it: the group is used.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .config import RouterConfigError

__all__ = ["MAX_DERIVED", "Alias", "Pattern", "is_pattern", "parse_aliases", "pattern_entries"]

MAX_DERIVED = 1024


def is_pattern(name: str) -> bool:
    return "*" in name


@dataclass(frozen=True)
class Alias:
    target: str
    hidden: bool = False


def parse_aliases(value: Any) -> dict[str, Alias]:
    """``model_group_alias`` -> ``{alias: Alias}``; raises RouterConfigError naming a bad
    entry."""
    if not value:
        return {}
    if not isinstance(value, Mapping):
        raise RouterConfigError("model_group_alias must be a mapping of alias -> model group")
    out: dict[str, Alias] = {}
    for alias, target in value.items():
        if isinstance(target, str) and target:
            out[str(alias)] = Alias(target)
        elif isinstance(target, Mapping) and isinstance(target.get("model"), str):
            out[str(alias)] = Alias(target["model"], bool(target.get("hidden", False)))
        else:
            raise RouterConfigError(f"model_group_alias[{alias!r}] must be a model group name "
                                    f"or {{model: <group>, hidden: true|false}}, got {target!r}")
    return out


class Pattern:
    """One wildcard model group: its name's regular expression and its entries."""

    def __init__(self, name: str, entries: list[tuple[int, dict[str, Any]]]) -> None:
        self.name = name
        self.entries = entries
        self.regex = re.compile(
            "".join("(.*)" if part == "*" else re.escape(part)
                    for part in re.split(r"(\*)", name)), re.DOTALL)
        self.specificity = len(name.replace("*", ""))

    def match(self, requested: str) -> list[str] | None:
        found = self.regex.fullmatch(requested)
        return list(found.groups()) if found is not None else None

    def entries_for(self, requested: str, parts: list[str]) -> list[tuple[int, dict[str, Any]]]:
        """The entries with ``requested`` as their model group and each ``*`` of their
        ``litellm_params.model`` filled in."""
        out = []
        for index, entry in self.entries:
            params = dict(entry["litellm_params"])
            params["model"] = _fill(str(params["model"]), requested, parts)
            info = dict(entry.get("model_info") or {})
            if info.get("id"):
                info["id"] = f"{info['id']}:{requested}"
            out.append((index, {**entry, "model_name": requested, "litellm_params": params,
                                "model_info": info}))
        return out


def _fill(model: str, requested: str, parts: list[str]) -> str:
    if model == "*":
        return requested
    pieces = model.split("*")
    if len(pieces) == 1:
        return model
    filled = [pieces[0]]
    for i, rest in enumerate(pieces[1:]):
        filled.append(parts[i] if i < len(parts) else (parts[-1] if parts else requested))
        filled.append(rest)
    return "".join(filled)


def pattern_entries(model_list: list[Any]) -> tuple[list[Any], list[Pattern]]:
    """Split a model list into plain entries and wildcard groups (most specific first)."""
    plain: list[Any] = []
    groups: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    for index, entry in enumerate(model_list):
        name = entry.get("model_name") if isinstance(entry, Mapping) else None
        if isinstance(name, str) and is_pattern(name):
            lp = entry.get("litellm_params")
            if not isinstance(lp, Mapping) or not lp.get("model"):
                raise RouterConfigError(f"model_list[{index}] (model_name {name!r}) needs "
                                        f"litellm_params with a 'model', e.g. {{'model': '*'}}")
            groups.setdefault(name, []).append((index, dict(entry)))
        else:
            plain.append(entry)
    patterns = [Pattern(name, entries) for name, entries in groups.items()]
    patterns.sort(key=lambda p: -p.specificity)
    return plain, patterns
