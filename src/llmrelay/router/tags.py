"""Tag-based routing (``enable_tag_filtering``, LiteLLM's name): a deployment whose
``litellm_params.tags`` are set serves only requests carrying matching tags.

A request's tags are ``metadata.tags`` (the proxy puts ``x-litellm-tags`` and the key's
tags there too). With tags, a deployment serves the request when it has any of them
(``tag_filtering_match_any``, the default) or all of them (``tag_filtering_match_any:
false``); when none does, the deployments tagged ``default`` serve it. Without tags, the
``default`` deployments serve it, else the deployments with no tags. A group with no
deployment for the request's tags fails with a 400 that names them (no fallback is tried:
the request, not the group, is at fault).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..exceptions import BadRequestError
from .config import Deployment

__all__ = ["TagFilter", "deployment_tags", "request_tags"]

DEFAULT = "default"


def deployment_tags(dep: Deployment) -> list[str]:
    lp = dep.config.get("litellm_params") or {}
    tags = lp.get("tags") if isinstance(lp, dict) else None
    return [str(t) for t in tags] if isinstance(tags, list) else []


def request_tags(kwargs: dict[str, Any]) -> list[str]:
    meta = kwargs.get("metadata")
    tags = meta.get("tags") if isinstance(meta, dict) else None
    if tags is None:
        tags = kwargs.get("tags")
    return [str(t) for t in tags] if isinstance(tags, list) else []


class TagFilter:
    """The deployments one request may use (see the module docstring)."""

    def __init__(self, tags: Sequence[str], match_any: bool = True) -> None:
        self.tags = list(dict.fromkeys(tags))
        self.match_any = match_any
        self._groups: dict[str, list[Deployment]] = {}

    def _matches(self, dep: Deployment) -> bool:
        have = set(deployment_tags(dep))
        if self.match_any:
            return bool(have.intersection(self.tags))
        return set(self.tags) <= have

    def filter(self, group: str, deps: Sequence[Deployment]) -> list[Deployment]:
        """The deployments of ``deps`` (of ``group``) that serve this request."""
        found = self._groups.get(group)
        if found is None:
            chosen = [d for d in deps if self._matches(d)] if self.tags else []
            if not chosen:
                chosen = [d for d in deps if DEFAULT in deployment_tags(d)]
            if not chosen and not self.tags:
                chosen = [d for d in deps if not deployment_tags(d)]
            found = self._groups[group] = chosen
        return [d for d in found if d in deps]

    def check_group(self, group: str, deps: Sequence[Deployment]) -> None:
        """A 400 when no deployment of ``group`` serves this request's tags."""
        if deps and not self.filter(group, deps):
            wanted = (f"the tags {self.tags}" if self.tags else
                      "requests without tags (no deployment is tagged 'default' or untagged)")
            raise BadRequestError(f"no deployment of model group {group!r} serves {wanted} "
                                  "(router_settings.enable_tag_filtering)", model=group)
