"""The callback system: hook declarations, per-call logging state, background delivery.

The dispatcher instance is ``llmrelay.callbacks.dispatcher.dispatcher``.
"""
