"""LiteLLM's ``litellm.types.llms`` import paths (see :mod:`.openai`)."""
