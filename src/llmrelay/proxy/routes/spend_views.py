"""The table of LiteLLM's spend views (served by ``reports_litellm.py``) as plain data, so
the route table can list their paths without importing the module that answers them."""

from __future__ import annotations

__all__ = ["VIEWS"]

# (method, path, handler in reports_litellm.py, summary, response schema kind)
VIEWS: tuple[tuple[str, str, str, str, str], ...] = (
    ("GET", "/global/spend/report", "_global_report",
     "Spend per day and team / customer, or per key with its models", "array"),
    ("GET", "/global/spend", "_global_spend", "Total spend over the range", "object"),
    ("GET", "/global/spend/logs", "_global_logs", "Spend per day", "array"),
    ("GET", "/global/spend/keys", "_global_keys", "Top keys by spend", "array"),
    ("GET", "/global/spend/teams", "_global_teams", "Spend per team and day", "object"),
    ("GET", "/global/spend/models", "_global_models", "Top models by spend", "array"),
    ("GET", "/global/spend/tags", "_global_tags", "Spend per request tag", "object"),
    ("GET", "/spend/tags", "_spend_tags", "Spend per request tag", "array"),
    ("GET", "/global/spend/all_tag_names", "_all_tag_names", "Every tag seen", "object"),
    ("GET", "/global/spend/provider", "_provider", "Spend per provider", "array"),
    ("POST", "/global/spend/end_users", "_end_users", "Top end users by spend", "array"),
    ("GET", "/global/activity", "_global_activity", "Requests and tokens per day", "object"),
    ("GET", "/global/activity/model", "_activity_model",
     "Requests and tokens per model and day", "array"),
)
