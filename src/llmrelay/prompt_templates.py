"""Custom prompt templates for models that take one raw prompt string instead of chat
messages (LiteLLM's ``register_prompt_template`` / ``custom_prompt_dict``).

::

    llmrelay.register_prompt_template(
        model="huggingface/my-llama",
        roles={"system": {"pre_message": "<<SYS>>", "post_message": "<</SYS>>\\n"},
               "user": {"pre_message": "[INST] ", "post_message": " [/INST]"}},
        initial_prompt_value="<s>", final_prompt_value="")
    prompt = llmrelay.prompt_templates.render_prompt("huggingface/my-llama", messages)

Templates live in ``llmrelay.custom_prompt_dict`` (model -> template). A provider whose
wire takes a raw prompt renders the call's messages with :func:`render_prompt`; the chat
APIs llmrelay serves today take messages as they are, so for them a template is stored and
not applied.
"""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["register_prompt_template", "render_prompt", "template_for"]


def _store() -> dict[str, Any]:
    mod = sys.modules["llmrelay"]
    found = getattr(mod, "custom_prompt_dict", None)
    if not isinstance(found, dict):
        found = {}
        mod.custom_prompt_dict = found  # type: ignore[attr-defined, unused-ignore]
    return found


def register_prompt_template(model: str, roles: dict[str, dict[str, str]] | None = None,
                             initial_prompt_value: str = "", final_prompt_value: str = "",
                             tokenizer_config: dict[str, Any] | None = None
                             ) -> dict[str, Any]:
    """Register (or replace) the prompt template of ``model``; returns the whole
    ``custom_prompt_dict``. ``roles`` maps a role to its ``pre_message`` and
    ``post_message`` strings. Raises TypeError for a malformed ``roles``."""
    roles = dict(roles or {})
    for role, parts in roles.items():
        if not isinstance(parts, dict) or set(parts) - {"pre_message", "post_message"}:
            raise TypeError(f"roles[{role!r}] must be a dict with 'pre_message' and/or "
                            f"'post_message', got {parts!r}")
    store = _store()
    store[model] = {"roles": roles, "initial_prompt_value": initial_prompt_value,
                    "final_prompt_value": final_prompt_value}
    if tokenizer_config:
        store[model]["tokenizer_config"] = dict(tokenizer_config)
    return store


def template_for(model: str) -> dict[str, Any] | None:
    """The template registered for ``model`` (also tried without its ``provider/``)."""
    store = _store()
    found = store.get(model)
    if found is None and "/" in model:
        found = store.get(model.partition("/")[2])
    return found


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts: the text ones, in order
        return "".join(p.get("text", "") for p in content
                       if isinstance(p, dict) and p.get("type") == "text")
    return "" if content is None else str(content)


def render_prompt(model: str, messages: list[dict[str, Any]]) -> str | None:
    """``messages`` as one prompt string under ``model``'s template (None when the model
    has none)."""
    template = template_for(model)
    if template is None:
        return None
    roles = template.get("roles") or {}
    parts = [template.get("initial_prompt_value") or ""]
    for m in messages:
        wrap = roles.get(m.get("role"), {})
        parts.append(f"{wrap.get('pre_message', '')}{_text(m.get('content'))}"
                     f"{wrap.get('post_message', '')}")
    parts.append(template.get("final_prompt_value") or "")
    return "".join(parts)
