"""Proxy hooks example: referenced from examples/proxy_config.yaml as
``callbacks: custom_callbacks.proxy_handler_instance`` (loaded from the config's folder).

Run it::

    llmrelay serve --config examples/proxy_config.yaml
    curl http://127.0.0.1:4000/v1/chat/completions -H "Authorization: Bearer $LLMRELAY_MASTER_KEY" \\
      -H "Content-Type: application/json" \\
      -d '{"model": "mock", "messages": [{"role": "user", "content": "Hello"}]}' -i
    # -> the response carries x-litellm-custom-header: my-value

Every proxy-only hook is shown; each also works on its own.
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.exceptions import HTTPException

from llmrelay.integrations.custom_logger import CustomLogger

log = logging.getLogger("custom_callbacks")

BLOCKED_WORDS = ("forbidden-topic",)


def _text(data: dict[str, Any]) -> str:
    parts = []
    for message in data.get("messages") or []:
        content = message.get("content")
        if isinstance(content, str):
            parts.append(content)
    prompt = data.get("prompt")
    if isinstance(prompt, str):
        parts.append(prompt)
    return "\n".join(parts)


class MyProxyHandler(CustomLogger):
    # ---- before the model call --------------------------------------------------------
    async def async_pre_call_hook(self, user_api_key_dict: Any, cache: Any,
                                  data: dict[str, Any], call_type: str) -> Any:
        """Refuse empty chat requests (a string -> HTTP 400), tag the rest."""
        if call_type == "completion" and not _text(data).strip():
            return "empty prompts are not allowed"
        data.setdefault("metadata", {})["handled_by"] = "custom_callbacks"
        return data

    async def async_moderation_hook(self, data: dict[str, Any], user_api_key_dict: Any,
                                    call_type: str) -> None:
        """Runs while the model is called; raising cancels the call."""
        text = _text(data).lower()
        if any(word in text for word in BLOCKED_WORDS):
            raise HTTPException(status_code=400, detail="request blocked by moderation")

    # ---- after the model call ---------------------------------------------------------
    async def async_post_call_success_hook(self, data: Any, user_api_key_dict: Any,
                                           response: Any) -> Any:
        # The reference documentation's example, verbatim apart from `self`:
        # Add a custom header to the response
        additional_headers = getattr(response, "_hidden_params", {}).get(
            "additional_headers", {}) or {}
        additional_headers["x-litellm-custom-header"] = "my-value"
        if not hasattr(response, "_hidden_params"):
            response._hidden_params = {}
        response._hidden_params["additional_headers"] = additional_headers
        return response

    async def async_post_call_failure_hook(self, request_data: dict[str, Any],
                                           original_exception: Exception,
                                           user_api_key_dict: Any) -> None:
        log.warning("request for %s by %s failed: %s", request_data.get("model"),
                    user_api_key_dict.key_alias, original_exception)

    async def async_post_call_streaming_hook(self, user_api_key_dict: Any,
                                             response: Any) -> Any:
        """Per streamed chunk: return a replacement, or None to keep it."""
        return None

    async def async_post_call_streaming_iterator_hook(self, user_api_key_dict: Any,
                                                      response: Any,
                                                      request_data: dict[str, Any]) -> Any:
        """Wraps the whole stream; here it passes every chunk through unchanged."""
        async for chunk in response:
            yield chunk

    # ---- library hooks fire too, with the key's identity in the metadata ---------------
    async def async_log_success_event(self, kwargs: Any, response_obj: Any, start_time: Any,
                                      end_time: Any) -> None:
        metadata = kwargs["litellm_params"]["metadata"]
        log.info("served %s for key %s (user %s): $%s", kwargs["model"],
                 metadata.get("user_api_key_alias"), metadata.get("user_api_key_user_id"),
                 kwargs.get("response_cost"))


proxy_handler_instance = MyProxyHandler()
