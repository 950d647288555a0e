"""``enable_pre_call_checks``: before a call, leave out the deployments whose context
window cannot hold the prompt.

A deployment's window is ``model_info.max_input_tokens`` when the config gives it, else the
price table's ``max_input_tokens`` for its ``base_model`` (``model_info`` or
``litellm_params``) or its model; a deployment with no known window is kept. The prompt is counted with the deployment model's tokenizer (see
:func:`llmrelay.token_counter`), once per model per call. When no deployment of a group can
hold the prompt the group fails with :class:`~llmrelay.ContextWindowExceededError`, so
``context_window_fallbacks`` (then ``fallbacks``) take over, as in LiteLLM's router.
"""

from __future__ import annotations

from typing import Any

from ..exceptions import ContextWindowExceededError, LLMRelayError
from .config import Deployment

__all__ = ["ContextCheck"]


class ContextCheck:
    """The pre-call check of one call (its counts are kept for the call's attempts)."""

    def __init__(self, call: Any) -> None:
        self.call = call
        self._tokens: dict[str, int] = {}

    def tokens(self, dep: Deployment) -> int:
        found = self._tokens.get(dep.provider_model)
        if found is None:
            from ..tokens import token_counter

            call = self.call
            text = call.input if isinstance(call.input, (str, list)) else None
            try:
                found = token_counter(model=dep.provider_model, messages=call.messages,
                                      text=text)
            except Exception:  # an unusual prompt shape: leave the decision to the upstream
                found = 0
            self._tokens[dep.provider_model] = found
        return found

    @staticmethod
    def window(dep: Deployment) -> int | None:
        limit = dep.model_info.get("max_input_tokens")
        if limit is None:
            from ..cost import custom_pricing, get_model_info

            base, _ = custom_pricing(dep.model_info, dep.config.get("litellm_params"))
            try:
                limit = get_model_info(base or dep.provider_model, dep.provider).get(
                    "max_input_tokens")
            except LLMRelayError:
                return None
        try:
            return int(limit) if limit is not None else None
        except (TypeError, ValueError):
            return None

    def fits(self, dep: Deployment) -> bool:
        limit = self.window(dep)
        return limit is None or self.tokens(dep) <= limit

    def check_group(self, group: str, deps: list[Deployment]) -> None:
        """Raise ContextWindowExceededError when no deployment of ``group`` fits."""
        if deps and not any(self.fits(d) for d in deps):
            dep = deps[0]
            raise ContextWindowExceededError(
                f"the prompt has {self.tokens(dep)} tokens, more than the context window of "
                f"every deployment of model group {group!r} (largest: "
                f"{max(self.window(d) or 0 for d in deps)}; router pre-call check)",
                model=group)
