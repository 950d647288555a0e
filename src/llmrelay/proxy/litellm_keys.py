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
    "policies": (REFUSED, "guardrail policies are not implemented; requests would go "
                          "unchecked"),
    "policy_attachments": (REFUSED, "guardrail policies are not implemented; requests would "
                                    "go unchecked"),
    "worker_registry": (ABSENT, "no global control plane"),
    "agent_settings": (ABSENT, "no agent sessions"),
    "sandbox_tools": (ABSENT, "no code-interpreter sandboxes"),
    "mcp_builtin_servers": (ABSENT, "no MCP gateway"),
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
    "default_team_disabled": (HONOURED, "only admins create keys without a team"),
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
    "disable_responses_id_security": (REFUSED, "a stored response is always only its "
                                               "key's"),
    "image_generation_model": (HONOURED, "model used for every image generation"),
    "moderation_model": (HONOURED, "model for moderations that name none"),
    "forward_openai_org_id": (ABSENT, "client headers are not forwarded upstream"),
    "forward_client_headers_to_llm_api": (ABSENT, "client headers are not forwarded upstream"),
    "use_client_credentials_pass_through_routes": (
        ABSENT, "not read by LiteLLM either; pass-through routes need a key unless "
                "auth: false"),
    "service_account_settings": (REFUSED, "settings for keys without a user are not "
                                          "implemented"),
    "user_mcp_management_mode": (ABSENT, "no MCP gateway"),
    "ui_access_mode": (ABSENT, "the dashboard shows what each key's role allows"),
    "custom_sso": (ABSENT, "no SSO: the dashboard signs in with a key"),
    "litellm_license": (ABSENT, "no enterprise license needed"),
    "allow_user_auth": (ABSENT, "deprecated in LiteLLM"),
    "key_management_settings": (ABSENT, "no secret manager"),
    "proxy_batch_polling_interval": (ABSENT, "no batch API"),
    "disable_error_logs": (ABSENT, "errors are not written to the database"),
    # security and access
    "allow_unmanaged_response_ids": (REFUSED, "a response id this proxy did not make "
                                              "answers 404"),
    "enforce_fallback_model_access": (REFUSED, "fallbacks are not checked against the key's "
                                               "models"),
    "enforce_fallback_budget": (SAME, "budgets are checked once per request, before its "
                                      "first attempt; fallbacks run within it"),
    "disable_auto_add_proxy_admin_to_teams": (SAME, "the admin creating a team is not added "
                                                    "to it; listed members are"),
    "enforce_rbac": (SAME, "every management route checks the caller's role"),
    "role_permissions": (REFUSED, "custom role permissions are not implemented"),
    "custom_key_update": (REFUSED, "custom key checks are not supported"),
    "custom_key_policy": (REFUSED, "custom key checks are not supported"),
    "custom_team_metadata_validate": (REFUSED, "custom team checks are not supported"),
    "team_metadata_validation_timeout": (ABSENT, "only for custom_team_metadata_validate"),
    "team_metadata_validation_error_message": (ABSENT, "only for "
                                                       "custom_team_metadata_validate"),
    "custom_auth_run_common_checks": (ABSENT, "only for custom_auth, which is refused"),
    "user_header_name": (REFUSED, "the end user is the body's `user` only, never a header"),
    "user_header_mappings": (REFUSED, "the end user is the body's `user` only, never a "
                                      "header"),
    "missing_session_id": (REFUSED, "session ids are neither generated nor required"),
    "disable_env_credential_login": (ABSENT, "the dashboard signs in with a key; no "
                                             "username/password"),
    "max_failed_login_attempts_per_source": (ABSENT, "no password sign-in to limit"),
    "max_failed_login_attempts_per_source_overrides": (ABSENT, "no password sign-in to limit"),
    "failed_login_window_seconds": (ABSENT, "no password sign-in to limit"),
    "failed_login_block_seconds": (ABSENT, "no password sign-in to limit"),
    "trusted_proxy_ranges": (ABSENT, "no header-based sign-in (use_x_forwarded_for is read "
                                     "for allowed_ips)"),
    "auto_redirect_ui_login_to_sso": (ABSENT, "no SSO: the dashboard signs in with a key"),
    "custom_ui_sso_sign_in_handler": (ABSENT, "no SSO: the dashboard signs in with a key"),
    "allow_cli_sso_verification_uri_complete": (ABSENT, "no SSO"),
    "control_plane_url": (ABSENT, "no global control plane"),
    "enable_drain_endpoint": (ABSENT, "no /health/drain endpoint"),
    "drain_endpoint_token": (ABSENT, "no /health/drain endpoint"),
    "scope_spend_list_endpoints_to_caller": (ABSENT, "not read by LiteLLM either; /spend/keys "
                                                     "is for admins"),
    "legacy_unscoped_spend_list_endpoints": (ABSENT, "not read by LiteLLM either; /spend/keys "
                                                     "is for admins"),
    "use_queue": (ABSENT, "LiteLLM's old request queue; not read by LiteLLM either"),
    # limits and budgets
    "token_rate_limit_type": (HONOURED, "total only: tpm limits count input + output tokens"),
    "fail_closed_budget_enforcement": (HONOURED, "limits_failure_policy: fail_closed"),
    "disable_budget_reservation": (REFUSED, "budgets always reserve a request's worst-case "
                                            "cost"),
    "max_in_flight_requests_per_worker": (REFUSED, "no per-worker admission queue; use "
                                                   "global_max_parallel_requests"),
    "max_queued_requests_per_worker": (REFUSED, "no per-worker admission queue"),
    "admission_queue_timeout_seconds": (REFUSED, "no per-worker admission queue"),
    # the database and spend records
    "database_connect_timeout": (HONOURED, "PostgreSQL connect timeout"),
    "database_connection_pool_timeout": (ABSENT, "every database call has its deadline "
                                                 "(database_timeout)"),
    "database_socket_timeout": (ABSENT, "every database call has its deadline "
                                        "(database_timeout)"),
    "database_statement_timeout": (ABSENT, "every database call has its deadline "
                                           "(database_timeout)"),
    "database_lock_timeout": (ABSENT, "every database call has its deadline "
                                      "(database_timeout)"),
    "database_extra_connection_params": (REFUSED, "put connection parameters (sslmode ...) "
                                                  "in database_url"),
    "database_disable_prepared_statements": (HONOURED, "no prepared statements (PgBouncer "
                                                       "transaction pooling)"),
    "use_redis_transaction_buffer": (SAME, "spend goes through a local spool and is written "
                                           "in batches"),
    "user_api_key_cache_max_size": (SAME, "each worker caches up to 100,000 keys"),
    "proxy_config_reload_interval_seconds": (ABSENT, "no models in the database"),
    "scheduled_job_stagger": (ABSENT, "no scheduled jobs to stagger"),
    "maximum_spend_logs_cleanup_batch_size": (ABSENT, "spend logs are kept; no purge"),
    "maximum_spend_logs_cleanup_max_batches": (ABSENT, "spend logs are kept; no purge"),
    "maximum_spend_logs_cleanup_run_budget": (ABSENT, "spend logs are kept; no purge"),
    "maximum_spend_logs_cleanup_batch_timeout": (ABSENT, "spend logs are kept; no purge"),
    "maximum_spend_logs_cleanup_cron": (ABSENT, "spend logs are kept; no purge"),
    "spend_capture_rate_check": (ABSENT, "no alerting"),
    "alert_type_config": (ABSENT, "no alerting"),
    # requests and answers
    "cancel_on_disconnect": (ABSENT, "streams are cancelled when the client leaves; other "
                                     "calls finish"),
    "always_include_stream_usage": (ABSENT, "streams carry usage when the client asks "
                                            "(stream_options)"),
    "sse_keepalive_ping_interval_seconds": (ABSENT, "no keepalive pings in streams"),
    "include_call_id_in_error_body": (ABSENT, "error bodies keep OpenAI's shape"),
    "pass_through_request_timeout": (ABSENT, "pass-through calls time out after 600 s"),
    "forward_llm_provider_auth_headers": (ABSENT, "client headers are not forwarded "
                                                  "upstream"),
    # files, batches, health checks, MCP, search
    "disable_batch_input_file_rate_limiting": (ABSENT, "no batch API"),
    "skip_batch_input_file_rate_limiting_for_providers": (ABSENT, "no batch API"),
    "skip_batch_input_file_rate_limiting_for_models": (ABSENT, "no batch API"),
    "max_batch_file_size_mb": (ABSENT, "no /files endpoints"),
    "max_file_size_mb": (ABSENT, "no /files endpoints"),
    "allowed_file_extensions": (ABSENT, "no /files endpoints"),
    "blocked_file_extensions": (ABSENT, "no /files endpoints"),
    "enable_health_check_routing": (ABSENT, "no background health checks"),
    "background_health_check_model_groups": (ABSENT, "no background health checks"),
    "health_check_ignore_transient_errors": (ABSENT, "no background health checks"),
    "health_check_staleness_threshold": (ABSENT, "no background health checks"),
    "health_check_concurrency": (ABSENT, "no background health checks"),
    "health_check_skip_disabled_background_models": (ABSENT, "no background health checks"),
    "use_shared_health_check": (ABSENT, "no background health checks"),
    "enable_mcp_registry": (ABSENT, "no MCP gateway"),
    "mcp_client_side_auth_header_name": (ABSENT, "no MCP gateway"),
    "mcp_internal_ip_ranges": (ABSENT, "no MCP gateway"),
    "mcp_required_fields": (ABSENT, "no MCP gateway"),
    "mcp_trusted_proxy_ranges": (ABSENT, "no MCP gateway"),
    "require_end_user_mcp_access_defined": (ABSENT, "no MCP gateway"),
    "require_key_mcp_access_defined": (ABSENT, "no MCP gateway"),
    "search_tools": (ABSENT, "no search endpoints"),
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
    "key_generation_settings": (REFUSED, "who may create keys is set by roles, not by "
                                         "this setting"),
    "set_verbose": (ABSENT, "use `llmrelay serve --log-level debug`"),
    "json_logs": (ABSENT, "logs are plain text"),
    "service_callbacks": (ABSENT, "no service health events"),
    "redact_user_api_key_info": (REFUSED, "key identity is always given to callbacks"),
    "langfuse_default_tags": (ABSENT, "LiteLLM's Langfuse tag options"),
    "mcp_aliases": (ABSENT, "no MCP gateway"),
    "modify_params": (ABSENT, "requests are sent as given"),
    "enable_preview_features": (ABSENT, "no preview features"),
    "force_ipv4": (ABSENT, "the system resolver decides"),
    "disable_end_user_cost_tracking": (REFUSED, "the request's `user` is always kept "
                                                "with its spend"),
    "disable_end_user_cost_tracking_prometheus_only": (ABSENT, "no end-user metrics"),
    "disable_add_transform_inline_image_block": (ABSENT, "Fireworks-specific"),
    "use_chat_completions_url_for_anthropic_messages": (
        SAME, "/v1/messages to other providers goes through their chat API"),
    "disable_hf_tokenizer_download": (ABSENT, "no Hugging Face tokenizers"),
    "enable_json_schema_validation": (ABSENT, "responses are not schema-checked"),
    "enable_key_alias_format_validation": (ABSENT, "key aliases are free text"),
    "disable_copilot_system_to_assistant": (ABSENT, "deprecated in LiteLLM"),
    "log_raw_request_response": (ABSENT, "callbacks get the request body anyway"),
    "return_response_headers": (ABSENT, "provider headers are not returned"),
    "default_team_settings": (HONOURED, "each team's own callbacks (Langfuse keys) for "
                                        "its keys' calls"),
    "default_internal_user_params": (ABSENT, "users are never created at sign-in (no SSO)"),
    "max_internal_user_budget": (REFUSED, "a default budget for new users is not "
                                          "implemented"),
    "default_max_internal_user_budget": (REFUSED, "a default budget for new users is not "
                                                  "implemented"),
    "internal_user_budget_duration": (REFUSED, "a default budget for new users is not "
                                               "implemented"),
    "default_key_generate_params": (REFUSED, "key defaults are not implemented"),
    "upperbound_key_generate_params": (REFUSED, "key upper bounds are not implemented"),
    "max_budget": (REFUSED, "a proxy-wide budget is not implemented"),
    "budget_duration": (REFUSED, "a proxy-wide budget is not implemented"),
    "max_end_user_budget": (REFUSED, "a default budget for every end user is not "
                                     "implemented (set one per customer)"),
    "post_call_rules": (REFUSED, "post-call rules are not implemented"),
    "custom_provider_map": (HONOURED, "CustomLLM handlers as providers, by name"),
    "model_group_settings": (ABSENT, "LiteLLM's per-group forwarding options"),
    "s3_callback_params": (ABSENT, "no S3 logging"),
    "ssl_verify": (ABSENT, "TLS certificates are always verified"),
    "drop_params_on_unsupported_models": (ABSENT, "see drop_params"),
    "service_callback": (ABSENT, "no service health events"),
    "langfuse_enable_update_trace_keys": (ABSENT, "LiteLLM's Langfuse trace options"),
    "cost_discount_config": (REFUSED, "cost discounts are not implemented; spend would "
                                      "differ"),
    "cost_margin_config": (REFUSED, "cost margins are not implemented; spend would differ"),
    "request_correlation_in_logs": (ABSENT, "logs are plain text"),
    "enable_redis_auth_cache": (SAME, "each worker caches keys and follows their changes "
                                      "in the database"),
    "disable_stop_sequence_limit": (ABSENT, "`stop` is sent as given, never cut to 4"),
    "disable_aiohttp_transport": (ABSENT, "async upstream calls use llmrelay's own pooled "
                                          "HTTP/1.1 client, not aiohttp"),
    "http2": (ABSENT, "upstream calls use HTTP/1.1"),
    "enable_end_user_cost_tracking_prometheus_only": (ABSENT, "no end-user metrics"),
    "route_all_chat_openai_to_responses": (ABSENT, "chat requests go to chat completions"),
    "skip_system_message_in_guardrail": (ABSENT, "no guardrails"),
    "skip_tool_message_in_guardrail": (ABSENT, "no guardrails"),
    "key_alias_pattern": (ABSENT, "key aliases are free text"),
    "require_managed_files": (ABSENT, "no /files endpoints"),
    "user_url_validation": (SAME, "llmrelay fetches no URL a client sends"),
    "user_url_allowed_hosts": (ABSENT, "llmrelay fetches no URL a client sends"),
    "default_team_params": (REFUSED, "team defaults are not implemented"),
    "budget_reset_time": (REFUSED, "budget windows restart every budget_duration from their "
                                   "start; no time of day"),
    "overwrite_user_with_key_hash": (REFUSED, "the `user` sent upstream is the client's"),
    "add_function_to_prompt": (ABSENT, "functions are never written into prompts"),
    "max_ui_session_budget": (ABSENT, "the dashboard has no playground"),
    "store_audit_logs": (SAME, "changes to keys, teams and users are always in the audit "
                               "log"),
    "include_cost_in_streaming_usage": (SAME, "a stream's usage chunk carries its cost"),
    "advisor_interception_params": (ABSENT, "no advisor interception"),
    "websearch_interception_params": (ABSENT, "no web-search interception"),
    "code_interpreter_interception_params": (ABSENT, "no code-interpreter interception"),
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
    "tag_routing_prefix": (REFUSED, "tag prefixes are not implemented; request tags match "
                                    "as written"),
    "auto_router_capability_limit": (ABSENT, "no auto router"),
    "fallback_access_check": (ABSENT, "fallbacks are model groups of this proxy"),
    "fallback_budget_check": (ABSENT, "fallbacks are model groups of this proxy"),
    "keepalive_seconds": (ABSENT, "no keepalive pings in streams"),
    "allow_client_keepalive_override": (ABSENT, "no keepalive pings in streams"),
    "heuristic_v2_router_limit": (ABSENT, "no auto router"),
    "enable_pre_call_check": (ABSENT, "a misspelling in LiteLLM's table; "
                                      "enable_pre_call_checks is read"),
}

# model_info keys that change what llmrelay does; the rest is descriptive and kept as given.
MODEL_INFO: Table = {
    "id": (HONOURED, "deployment id"),
    "input_cost_per_token": (HONOURED, "price"),
    "output_cost_per_token": (HONOURED, "price"),
    "supported_environments": (HONOURED, "deployment served only when LITELLM_ENVIRONMENT "
                                         "is listed"),
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
    "email", "logfire_otel", "langfuse_v2", "advisor_interception", "websearch_interception",
    "code_interpreter_interception",
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
