"""Ready-made loggers, found by name through :mod:`llmrelay.integrations.registry`."""
