"""Every key of LiteLLM's documented proxy config, and what llmrelay does with it.

LiteLLM users' configs must start unchanged, so no documented key is a typo to us. Each key
gets one of four policies:

* ``HONOURED``: llmrelay does what the key asks (the loader in ``config.py`` /
  ``config_router.py`` reads it; every ``router_settings`` key ``llmrelay.Router`` takes is
  passed to it, whatever this table says);
* ``SAME``: llmrelay already behaves the way the key asks, so there is nothing to change
  (e.g. ``telemetry: false``: llmrelay sends no telemetry);
* ``ABSENT``: the key only configures something llmrelay does not have (an integration,
  alerting, the admin UI, SSO, ...): it is listed, with every other such key, in the one
  start-up summary, and otherwise has no effect;
* ``REFUSED``: the key would change security, routing, limits or stored data in a way
  llmrelay cannot honour: setting it (to anything but its off value) stops the start with an
  error naming it, because skipping it would quietly run a weaker or different proxy than
  the one configured.

The notes are shown to users (start-up summary, ``llmrelay config check``) and in the
issue notes' key table, so they say what happens in a few words.
"""

from __future__ import annotations

from typing import Literal

__all__ = ["ABSENT", "GENERAL", "HONOURED", "LITELLM", "LITELLM_CALLBACKS",
           "LITELLM_CALL_TYPES", "MODEL_INFO", "REFUSED", "ROUTER", "SAME", "TOP", "Policy",
           "lookup"]

Policy = Literal["honoured", "same", "absent", "refused"]
HONOURED: Policy = "honoured"
SAME: Policy = "same"
ABSENT: Policy = "absent"
REFUSED: Policy = "refused"

Table = dict[str, tuple[Policy, str]]

TOP: Table = {
    "model_list": (HONOURED, "model groups and their deployments"),
    "litellm_settings": (HONOURED, "SDK settings, callbacks, cache, fallbacks"),
    "router_settings": (HONOURED, "routing, retries, fallbacks, aliases"),
    "general_settings": (HONOURED, "auth, database, limits, routes"),
    "environment_variables": (HONOURED, "exported before anything else is read"),
    "credential_list": (HONOURED, "named credentials for litellm_credential_name"),
    "include": (HONOURED, "other YAML files merged into this one"),
    "callback_settings": (ABSENT, "per-integration options of LiteLLM's integrations"),
    "finetune_settings": (ABSENT, "no /fine_tuning endpoints"),
    "files_settings": (ABSENT, "no /files endpoints"),
    "assistant_settings": (ABSENT, "no assistants endpoints"),
    "mcp_servers": (ABSENT, "no MCP gateway"),
    "mcp_tools": (ABSENT, "no MCP gateway"),
    "vector_store_registry": (ABSENT, "no vector store endpoints"),
    "prompts": (ABSENT, "no prompt management"),
    "search_tools": (ABSENT, "no search endpoints"),
    "agent_list": (ABSENT, "no agent gateway"),
    "guardrails": (REFUSED, "guardrails are not implemented; requests would go unchecked"),
}

GENERAL: Table = {
    "master_key": (HONOURED, "requires a key on every request"),
    "database_url": (HONOURED, "SQLite or PostgreSQL key and spend store"),
    "database_connection_pool_limit": (HONOURED, "PostgreSQL pool size"),
    "database_connection_timeout": (HONOURED, "PostgreSQL connect timeout"),
    "max_request_size_mb": (HONOURED, "413 for larger request bodies"),
    "max_parallel_requests": (HONOURED, "default in-flight limit per deployment"),
    "global_max_parallel_requests": (HONOURED, "in-flight limit per proxy process (429)"),
    "allowed_routes": (HONOURED, "other routes answer 403"),
    "allowed_ips": (HONOURED, "other client addresses get 403"),
    "use_x_forwarded_for": (HONOURED, "client address from X-Forwarded-For for allowed_ips"),
    "litellm_key_header_name": (HONOURED, "extra header carrying the API key"),
    "completion_model": (HONOURED, "model used for every chat/text completion"),
    "embedding_model": (HONOURED, "model used for every embedding request"),
    "enforce_user_param": (HONOURED, "requests without `user` get 400"),
    "reject_clientside_metadata_tags": (HONOURED, "requests with metadata.tags get 400"),
    "dangerously_permit_weak_or_unset_master_key": (
        HONOURED, "lets the proxy start without a (strong) master key"),
    "allow_client_side_credentials": (HONOURED, "see the request contract"),
    "pass_through_endpoints": (HONOURED, "routes forwarded as they are to another API"),
    "custom_auth": (REFUSED, "custom auth functions are not supported"),
    "custom_auth_settings": (REFUSED, "custom auth functions are not supported"),
    "custom_key_generate": (REFUSED, "custom key generation checks are not supported"),
    "enable_jwt_auth": (REFUSED, "JWT auth is not implemented"),
    "litellm_jwtauth": (REFUSED, "JWT auth is not implemented"),
    "enable_oauth2_auth": (REFUSED, "OAuth2 auth is not implemented"),
    "enable_oauth2_proxy_auth": (REFUSED, "OAuth2 auth is not implemented"),
    "oauth2_config_mappings": (REFUSED, "OAuth2 auth is not implemented"),
    "public_routes": (REFUSED, "public routes (no auth) are not implemented"),
    "admin_only_routes": (REFUSED, "per-route admin restrictions are not implemented"),
    "enforced_params": (REFUSED, "enforced request params are not implemented"),
    "key_management_system": (REFUSED, "secret managers are not supported; use os.environ/"),
    "use_azure_key_vault": (REFUSED, "secret managers are not supported; use os.environ/"),
    "use_google_kms": (REFUSED, "secret managers are not supported; use os.environ/"),
    "disable_spend_logs": (REFUSED, "every request is logged in spend_logs"),
    "disable_spend_updates": (REFUSED, "spend is always tracked"),
    "disable_reset_budget": (REFUSED, "budget windows always reset"),
    "maximum_spend_logs_retention_period": (REFUSED, "spend logs are kept; no purge"),
    "maximum_spend_logs_retention_interval": (REFUSED, "spend logs are kept; no purge"),
    "max_response_size_mb": (REFUSED, "response size limits are not implemented"),
    "default_team_disabled": (REFUSED, "teams are not implemented yet"),
    "allow_requests_on_db_unavailable": (
        SAME, "known keys keep working from the key cache while the database is down"),
    "store_model_in_db": (ABSENT, "no model management API; the config's models are all"),
    "supported_db_objects": (ABSENT, "no model management API"),
    "store_prompts_in_spend_logs": (HONOURED, "usage rows keep messages and response "
                                              "(unless turn_off_message_logging)"),
    "proxy_batch_write_at": (SAME, "spend is written in batches every second"),
    "proxy_budget_rescheduler_min_time": (SAME, "budgets reset when their window ends"),
    "proxy_budget_rescheduler_max_time": (SAME, "budgets reset when their window ends"),
    "disable_prisma_schema_update": (SAME, "llmrelay's own migrations run at start"),
    "disable_adding_master_key_hash_to_db": (SAME, "the master key is never stored"),
    "disable_master_key_return": (SAME, "no endpoint returns the master key"),
    "user_api_key_cache_ttl": (SAME, "key changes reach every worker within a second"),
    "infer_model_from_keys": (ABSENT, "no model inference from provider keys"),
    "background_health_checks": (ABSENT, "no background model health checks"),
    "health_check_interval": (ABSENT, "no background model health checks"),
    "health_check_details": (ABSENT, "no background model health checks"),
    "alerting": (ABSENT, "no Slack/e-mail alerting"),
    "alerting_threshold": (ABSENT, "no alerting"),
    "alerting_args": (ABSENT, "no alerting"),
    "alert_types": (ABSENT, "no alerting"),
    "alert_to_webhook_url": (ABSENT, "no alerting"),
    "spend_report_frequency": (ABSENT, "no alerting"),
    "disable_retry_on_max_parallel_request_limit_error": (ABSENT, "limits are not retried"),
    "disable_responses_id_security": (ABSENT, "no /responses endpoint yet"),
    "image_generation_model": (ABSENT, "no image endpoints yet"),
    "moderation_model": (ABSENT, "no moderation endpoint yet"),
    "forward_openai_org_id": (ABSENT, "client headers are not forwarded upstream"),
    "forward_client_headers_to_llm_api": (ABSENT, "client headers are not forwarded upstream"),
    "use_client_credentials_pass_through_routes": (ABSENT, "no pass-through routes"),
    "service_account_settings": (ABSENT, "no service accounts"),
    "user_mcp_management_mode": (ABSENT, "no MCP gateway"),
    "ui_access_mode": (ABSENT, "the dashboard shows what each key's role allows"),
    "custom_sso": (ABSENT, "no SSO: the dashboard signs in with a key"),
    "litellm_license": (ABSENT, "no enterprise license needed"),
    "allow_user_auth": (ABSENT, "deprecated in LiteLLM"),
    "key_management_settings": (ABSENT, "no secret manager"),
    "proxy_batch_polling_interval": (ABSENT, "no batch API"),
    "disable_error_logs": (ABSENT, "errors are not written to the database"),
}

LITELLM: Table = {
    "callbacks": (HONOURED, "logger objects or integration names"),
    "success_callback": (HONOURED, "logger objects or integration names"),
    "failure_callback": (HONOURED, "logger objects or integration names"),
    "input_callback": (HONOURED, "logger objects or integration names"),
    "cache": (HONOURED, "response cache on/off"),
    "cache_params": (HONOURED, "cache type, Redis address, ttl, namespace, call types"),
    "num_retries": (HONOURED, "retries per model group"),
    "request_timeout": (HONOURED, "upstream timeout in seconds"),
    "drop_params": (HONOURED, "drop options a provider does not take"),
    "turn_off_message_logging": (HONOURED, "callbacks never see prompts or completions"),
    "callback_timeout": (HONOURED, "seconds one observer hook may run"),
    "fallbacks": (HONOURED, "router fallbacks (router_settings wins)"),
    "context_window_fallbacks": (HONOURED, "router fallbacks (router_settings wins)"),
    "content_policy_fallbacks": (HONOURED, "router fallbacks (router_settings wins)"),
    "default_fallbacks": (HONOURED, "router fallbacks (router_settings wins)"),
    "allowed_fails": (HONOURED, "router setting (router_settings wins)"),
    "cooldown_time": (HONOURED, "router setting (router_settings wins)"),
    "retry_after": (HONOURED, "router setting (router_settings wins)"),
    "max_parallel_requests": (HONOURED, "default in-flight limit per deployment"),
    "telemetry": (SAME, "llmrelay sends no telemetry"),
    "key_generation_settings": (SAME, "only the master key creates keys"),
    "set_verbose": (ABSENT, "use `llmrelay serve --log-level debug`"),
    "json_logs": (ABSENT, "logs are plain text"),
    "service_callbacks": (ABSENT, "no service health events"),
    "redact_user_api_key_info": (REFUSED, "key identity is always given to callbacks"),
    "langfuse_default_tags": (ABSENT, "LiteLLM's Langfuse tag options"),
    "mcp_aliases": (ABSENT, "no MCP gateway"),
    "modify_params": (ABSENT, "requests are sent as given"),
    "enable_preview_features": (ABSENT, "no preview features"),
    "force_ipv4": (ABSENT, "the system resolver decides"),
    "disable_end_user_cost_tracking": (ABSENT, "no end-user cost tracking"),
    "disable_end_user_cost_tracking_prometheus_only": (ABSENT, "no end-user metrics"),
    "disable_add_transform_inline_image_block": (ABSENT, "Fireworks-specific"),
    "use_chat_completions_url_for_anthropic_messages": (ABSENT, "no /v1/messages yet"),
    "disable_hf_tokenizer_download": (ABSENT, "no Hugging Face tokenizers"),
    "enable_json_schema_validation": (ABSENT, "responses are not schema-checked"),
    "enable_key_alias_format_validation": (ABSENT, "key aliases are free text"),
    "disable_copilot_system_to_assistant": (ABSENT, "deprecated in LiteLLM"),
    "log_raw_request_response": (ABSENT, "callbacks get the request body anyway"),
    "return_response_headers": (ABSENT, "provider headers are not returned"),
    "default_team_settings": (ABSENT, "no teams yet"),
    "default_internal_user_params": (ABSENT, "no users yet"),
    "max_internal_user_budget": (ABSENT, "no users yet"),
    "default_max_internal_user_budget": (ABSENT, "no users yet"),
    "internal_user_budget_duration": (ABSENT, "no users yet"),
    "default_key_generate_params": (REFUSED, "key defaults are not implemented"),
    "upperbound_key_generate_params": (REFUSED, "key upper bounds are not implemented"),
    "max_budget": (REFUSED, "a proxy-wide budget is not implemented"),
    "budget_duration": (REFUSED, "a proxy-wide budget is not implemented"),
    "max_end_user_budget": (REFUSED, "end-user budgets are not implemented"),
    "post_call_rules": (REFUSED, "post-call rules are not implemented"),
    "custom_provider_map": (HONOURED, "CustomLLM handlers as providers, by name"),
    "model_group_settings": (ABSENT, "LiteLLM's per-group forwarding options"),
    "s3_callback_params": (ABSENT, "no S3 logging"),
    "ssl_verify": (ABSENT, "TLS certificates are always verified"),
    "drop_params_on_unsupported_models": (ABSENT, "see drop_params"),
}

ROUTER: Table = {
    "routing_strategy": (HONOURED, "simple-shuffle, least-busy, latency/usage-based"),
    "routing_strategy_args": (HONOURED, "latency-based: ttl, lowest_latency_buffer"),
    "model_group_alias": (HONOURED, "other names for model groups"),
    "num_retries": (HONOURED, "retries per model group"),
    "timeout": (HONOURED, "upstream timeout"),
    "stream_timeout": (HONOURED, "upstream timeout for streams"),
    "retry_after": (HONOURED, "seconds between retries"),
    "allowed_fails": (HONOURED, "failures in a minute before a cooldown"),
    "cooldown_time": (HONOURED, "cooldown length in seconds"),
    "disable_cooldowns": (HONOURED, "no deployment is cooled down"),
    "fallbacks": (HONOURED, "groups tried when a group fails"),
    "context_window_fallbacks": (HONOURED, "groups tried on context-window errors"),
    "content_policy_fallbacks": (HONOURED, "groups tried on content-policy errors"),
    "default_fallbacks": (HONOURED, "groups tried when a group has no fallbacks"),
    "max_fallbacks": (HONOURED, "at most this many fallback groups per request"),
    "default_litellm_params": (HONOURED, "default call options of every deployment"),
    "ignore_invalid_deployments": (HONOURED, "false: a deployment llmrelay cannot "
                                             "serve stops the start"),
    "redis_host": (HONOURED, "Redis for limits shared across instances"),
    "redis_port": (HONOURED, "Redis for limits shared across instances"),
    "redis_password": (HONOURED, "Redis for limits shared across instances"),
    "redis_url": (HONOURED, "Redis for limits shared across instances"),
    "redis_db": (HONOURED, "Redis for limits shared across instances"),
    "default_max_parallel_requests": (HONOURED, "default in-flight limit per deployment"),
    "enable_pre_call_checks": (HONOURED, "deployments too small for the prompt are skipped"),
    "optional_pre_call_checks": (REFUSED, "pre-call checks are not implemented"),
    "retry_policy": (HONOURED, "retries per error type"),
    "model_group_retry_policy": (HONOURED, "retries per error type, per model group"),
    "allowed_fails_policy": (HONOURED, "failures per error type before a cooldown"),
    "enable_tag_filtering": (HONOURED, "deployments with tags serve only matching requests"),
    "tag_filtering_match_any": (HONOURED, "false: a deployment needs every request tag"),
    "provider_budget_config": (REFUSED, "provider budgets are not implemented"),
    "model_group_affinity_config": (REFUSED, "deployment affinity is not implemented"),
    "routing_groups": (REFUSED, "routing groups are not implemented"),
    "guardrail_list": (REFUSED, "guardrails are not implemented"),
    "cache_responses": (ABSENT, "use litellm_settings.cache for response caching"),
    "caching_groups": (ABSENT, "cache entries are per model group"),
    "cache_kwargs": (ABSENT, "use litellm_settings.cache_params"),
    "client_ttl": (ABSENT, "HTTP clients are pooled for the process's life"),
    "debug_level": (HONOURED, "DEBUG turns on llmrelay.set_verbose"),
    "set_verbose": (HONOURED, "turns on llmrelay.set_verbose"),
    "default_priority": (ABSENT, "no request scheduler"),
    "polling_interval": (ABSENT, "no request scheduler"),
    "alerting_config": (ABSENT, "no alerting"),
    "assistants_config": (ABSENT, "no assistants endpoints"),
    "router_general_settings": (ABSENT, "LiteLLM SDK-only optimisations"),
    "deployment_affinity_ttl_seconds": (ABSENT, "no deployment affinity"),
    "search_tools": (ABSENT, "no search endpoints"),
    "enable_health_check_routing": (ABSENT, "no background health checks"),
    "background_health_check_model_groups": (ABSENT, "no background health checks"),
    "health_check_staleness_threshold": (ABSENT, "no background health checks"),
    "health_check_ignore_transient_errors": (ABSENT, "no background health checks"),
    "fallback_on_unsupported_params": (ABSENT, "see drop_params"),
    "enable_weighted_failover": (ABSENT, "fallbacks are tried in order"),
    "plugins": (ABSENT, "no router plugins"),
    "tag_routing_prefix": (ABSENT, "tag-based routing is not implemented"),
    "auto_router_capability_limit": (ABSENT, "no auto router"),
    "fallback_access_check": (ABSENT, "fallbacks are model groups of this proxy"),
    "fallback_budget_check": (ABSENT, "fallbacks are model groups of this proxy"),
}

# model_info keys that change what llmrelay does; the rest is descriptive and kept as given.
MODEL_INFO: Table = {
    "id": (HONOURED, "deployment id"),
    "input_cost_per_token": (HONOURED, "price"),
    "output_cost_per_token": (HONOURED, "price"),
    "supported_environments": (REFUSED, "per-environment models are not implemented"),
}

# Integration names LiteLLM knows (its custom-logger callbacks and the older string
# callbacks). A name here that llmrelay does not have is reported, not fatal; a name
# nobody knows is an error (a typo would otherwise silently log nothing).
LITELLM_CALLBACKS = frozenset({
    "lago", "openmeter", "logfire", "literalai", "litellm_agent", "dynamic_rate_limiter",
    "dynamic_rate_limiter_v3", "langsmith", "prometheus", "otel", "datadog",
    "datadog_metrics", "datadog_llm_observability", "galileo", "braintrust", "arize",
    "arize_phoenix", "langtrace", "gcs_bucket", "azure_storage", "opik", "argilla", "mlflow",
    "langfuse", "langfuse_otel", "weave_otel", "pagerduty", "humanloop", "azure_sentinel",
    "gcs_pubsub", "agentops", "anthropic_cache_control_hook", "generic_api", "resend_email",
    "sendgrid_email", "smtp_email", "deepeval", "s3_v2", "clickhouse", "pointfive",
    "zerobus", "aws_sqs", "vector_store_pre_call_hook", "dotprompt", "bitbucket", "gitlab",
    "cloudzero", "focus", "mavvrik", "vantage", "ternary", "posthog", "levo",
    "compression_interception", "newrelic", "signoz", "athina", "dynamodb", "greenscale",
    "helicone", "lunary", "promptlayer", "s3", "sentry", "slack", "supabase", "traceloop",
    "wandb", "weights_biases", "llmonitor", "berrispend", "aispend", "custom_callback_api",
    "email", "logfire_otel", "langfuse_v2",
})

# Call types LiteLLM names (``supported_call_types`` of the cache, hooks' ``call_type``).
LITELLM_CALL_TYPES = frozenset({
    "completion", "acompletion", "text_completion", "atext_completion", "embedding",
    "aembedding", "image_generation", "aimage_generation", "image_edit", "aimage_edit",
    "moderation", "amoderation", "transcription", "atranscription", "speech", "aspeech",
    "rerank", "arerank", "responses", "aresponses", "anthropic_messages",
    "aanthropic_messages", "pass_through_endpoint", "search", "asearch", "ocr", "aocr",
    "generate_content", "agenerate_content",
})

_SECTIONS: dict[str, Table] = {"": TOP, "general_settings": GENERAL,
                               "litellm_settings": LITELLM, "router_settings": ROUTER}


def lookup(section: str, key: str) -> tuple[Policy, str] | None:
    """The policy and note for ``section.key`` (section ``""``: top level), or None when
    LiteLLM does not document the key."""
    return _SECTIONS.get(section, {}).get(key)
