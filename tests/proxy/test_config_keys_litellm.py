"""LiteLLM's documented config keys, all of them: each one LiteLLM's settings reference
(proxy/config_settings.md) lists has a policy in ``litellm_keys``, and the keys llmrelay
honours do what LiteLLM documents (image_generation_model, moderation_model,
default_team_disabled, default_team_settings, database_connect_timeout,
token_rate_limit_type, fail_closed_budget_enforcement). Keys it cannot honour stop the
start with the key named; LiteLLM's own keys are never called "unknown"."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from asgi_support import MASTER, in_process

from fakes.langfuse_server import LangfuseServer
from llmrelay.proxy import litellm_keys
from llmrelay.proxy.config import ConfigError, load_config

# The keys of LiteLLM's settings reference tables (and of the YAML block at its top), by
# section, as the reference lists them in 2026.
DOCUMENTED = {
    "": "environment_variables model_list litellm_settings callback_settings general_settings "
        "worker_registry router_settings",
    "litellm_settings":
        "success_callback failure_callback callbacks service_callback service_callbacks "
        "turn_off_message_logging redact_user_api_key_info langfuse_default_tags "
        "langfuse_enable_update_trace_keys request_timeout force_ipv4 cost_discount_config "
        "cost_margin_config json_logs request_correlation_in_logs default_fallbacks "
        "content_policy_fallbacks context_window_fallbacks mcp_aliases cache cache_params "
        "enable_redis_auth_cache modify_params enable_preview_features "
        "disable_stop_sequence_limit set_verbose disable_aiohttp_transport http2 "
        "disable_end_user_cost_tracking enable_end_user_cost_tracking_prometheus_only "
        "disable_end_user_cost_tracking_prometheus_only key_generation_settings "
        "disable_add_transform_inline_image_block "
        "use_chat_completions_url_for_anthropic_messages route_all_chat_openai_to_responses "
        "skip_system_message_in_guardrail skip_tool_message_in_guardrail "
        "disable_hf_tokenizer_download enable_json_schema_validation "
        "enable_key_alias_format_validation key_alias_pattern require_managed_files "
        "user_url_validation user_url_allowed_hosts disable_copilot_system_to_assistant "
        "default_team_params budget_reset_time overwrite_user_with_key_hash drop_params "
        "add_function_to_prompt ssl_verify return_response_headers max_budget "
        "max_internal_user_budget default_max_internal_user_budget max_ui_session_budget "
        "store_audit_logs default_key_generate_params upperbound_key_generate_params "
        "default_internal_user_params default_team_settings",
    "general_settings":
        "completion_model enable_drain_endpoint drain_endpoint_token disable_spend_logs "
        "disable_spend_updates disable_master_key_return disable_env_credential_login "
        "disable_retry_on_max_parallel_request_limit_error disable_reset_budget "
        "disable_adding_master_key_hash_to_db disable_responses_id_security "
        "allow_unmanaged_response_ids disable_auto_add_proxy_admin_to_teams "
        "enforce_fallback_model_access enforce_fallback_budget enable_jwt_auth "
        "enforce_user_param reject_clientside_metadata_tags missing_session_id "
        "disable_batch_input_file_rate_limiting "
        "skip_batch_input_file_rate_limiting_for_providers "
        "skip_batch_input_file_rate_limiting_for_models disable_budget_reservation "
        "allowed_routes key_management_system master_key "
        "dangerously_permit_weak_or_unset_master_key database_url "
        "database_connection_pool_limit database_connection_timeout database_connect_timeout "
        "database_socket_timeout database_statement_timeout database_lock_timeout "
        "database_extra_connection_params database_disable_prepared_statements "
        "allow_requests_on_db_unavailable fail_closed_budget_enforcement custom_auth "
        "max_parallel_requests global_max_parallel_requests max_in_flight_requests_per_worker "
        "max_queued_requests_per_worker admission_queue_timeout_seconds cancel_on_disconnect "
        "infer_model_from_keys background_health_checks health_check_interval alerting "
        "alerting_threshold use_client_credentials_pass_through_routes health_check_details "
        "public_routes alert_types enforced_params enable_oauth2_auth use_x_forwarded_for "
        "service_account_settings image_generation_model store_model_in_db "
        "supported_db_objects user_mcp_management_mode store_prompts_in_spend_logs "
        "scope_spend_list_endpoints_to_caller legacy_unscoped_spend_list_endpoints "
        "max_request_size_mb max_response_size_mb max_batch_file_size_mb max_file_size_mb "
        "allowed_file_extensions blocked_file_extensions proxy_budget_rescheduler_min_time "
        "proxy_budget_rescheduler_max_time proxy_batch_write_at proxy_batch_polling_interval "
        "proxy_config_reload_interval_seconds scheduled_job_stagger alerting_args "
        "custom_key_generate custom_key_update custom_key_policy allowed_ips embedding_model "
        "default_team_disabled alert_to_webhook_url key_management_settings allow_user_auth "
        "user_api_key_cache_ttl user_api_key_cache_max_size disable_prisma_schema_update "
        "litellm_key_header_name moderation_model custom_sso "
        "allow_cli_sso_verification_uri_complete include_call_id_in_error_body "
        "allow_client_side_credentials admin_only_routes use_azure_key_vault use_google_kms "
        "spend_report_frequency spend_capture_rate_check ui_access_mode "
        "max_failed_login_attempts_per_source max_failed_login_attempts_per_source_overrides "
        "failed_login_window_seconds failed_login_block_seconds litellm_jwtauth "
        "litellm_license oauth2_config_mappings pass_through_endpoints "
        "pass_through_request_timeout enable_oauth2_proxy_auth forward_openai_org_id "
        "forward_client_headers_to_llm_api maximum_spend_logs_retention_period "
        "maximum_spend_logs_retention_interval alert_type_config always_include_stream_usage "
        "sse_keepalive_ping_interval_seconds auto_redirect_ui_login_to_sso control_plane_url "
        "custom_auth_run_common_checks custom_ui_sso_sign_in_handler "
        "database_connection_pool_timeout disable_error_logs enable_health_check_routing "
        "background_health_check_model_groups health_check_ignore_transient_errors "
        "enable_mcp_registry enforce_rbac forward_llm_provider_auth_headers "
        "health_check_concurrency health_check_skip_disabled_background_models "
        "health_check_staleness_threshold maximum_spend_logs_cleanup_batch_size "
        "maximum_spend_logs_cleanup_max_batches maximum_spend_logs_cleanup_run_budget "
        "maximum_spend_logs_cleanup_batch_timeout maximum_spend_logs_cleanup_cron "
        "mcp_client_side_auth_header_name mcp_internal_ip_ranges mcp_required_fields "
        "mcp_trusted_proxy_ranges trusted_proxy_ranges require_end_user_mcp_access_defined "
        "require_key_mcp_access_defined role_permissions search_tools token_rate_limit_type "
        "use_redis_transaction_buffer use_shared_health_check user_header_mappings "
        "user_header_name",
    "router_settings":
        "routing_strategy redis_host redis_password redis_port redis_db "
        "content_policy_fallbacks fallbacks enable_tag_filtering enable_weighted_failover "
        "fallback_access_check fallback_budget_check tag_filtering_match_any "
        "tag_routing_prefix cooldown_time disable_cooldowns retry_policy allowed_fails "
        "allowed_fails_policy default_max_parallel_requests default_priority polling_interval "
        "max_fallbacks default_litellm_params timeout stream_timeout keepalive_seconds "
        "allow_client_keepalive_override debug_level client_ttl cache_kwargs "
        "routing_strategy_args model_group_alias num_retries default_fallbacks caching_groups "
        "alerting_config assistants_config set_verbose retry_after provider_budget_config "
        "enable_pre_call_checks enable_pre_call_check model_group_retry_policy "
        "context_window_fallbacks redis_url cache_responses router_general_settings "
        "optional_pre_call_checks deployment_affinity_ttl_seconds model_group_affinity_config "
        "ignore_invalid_deployments auto_router_capability_limit heuristic_v2_router_limit "
        "search_tools guardrail_list enable_health_check_routing "
        "background_health_check_model_groups health_check_staleness_threshold "
        "health_check_ignore_transient_errors routing_groups plugins",
}


def mock(name: str, dep_id: str, model: str = "mock/mock") -> dict[str, Any]:
    return {"model_name": name, "litellm_params": {"model": model},
            "model_info": {"id": dep_id}}


def write(tmp_path: Path, data: dict[str, Any], name: str = "config.yaml") -> str:
    data.setdefault("model_list", [mock("a", "a")])
    general = data.setdefault("general_settings", {})
    general.setdefault("master_key", MASTER)
    general.setdefault("database_url", f"sqlite:///{tmp_path / 'k.db'}")
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return str(path)


@pytest.mark.parametrize("section", sorted(DOCUMENTED))
def test_every_documented_key_has_a_policy(section: str) -> None:
    missing = [k for k in DOCUMENTED[section].split() if litellm_keys.lookup(section, k) is None]
    assert missing == []


def test_litellm_keys_are_never_called_unknown(tmp_path: Path) -> None:
    # LiteLLM's own keys seen in its example configs, documented or not.
    cfg = load_config(write(tmp_path, {
        "general_settings": {"use_redis_transaction_buffer": True, "use_queue": False,
                             "team_metadata_validation_timeout": 5},
        "litellm_settings": {"callbacks": ["websearch_interception"],
                             "websearch_interception_params": {"search_tool_name": "s"},
                             "include_cost_in_streaming_usage": True},
        "agent_settings": {"vm_provider": "noop"}, "sandbox_tools": [],
        "mcp_builtin_servers": {}, "worker_registry": []}))
    assert not [w for w in cfg.warnings if "unknown key" in w], cfg.warnings
    reported = {k for k, _ in cfg.unused}
    assert {"agent_settings", "worker_registry",
            "litellm_settings.websearch_interception_params"} <= reported
    assert "general_settings.use_redis_transaction_buffer" not in reported  # SAME: silent


@pytest.mark.parametrize(("section", "key", "value"), [
    ("general_settings", "allow_unmanaged_response_ids", True),
    ("general_settings", "disable_responses_id_security", True),
    ("general_settings", "enforce_fallback_model_access", True),
    ("general_settings", "user_header_name", "x-user"),
    ("general_settings", "database_extra_connection_params", {"sslmode": "require"}),
    ("general_settings", "custom_team_metadata_validate", "mod.fn"),
    ("litellm_settings", "key_generation_settings", {"team_key_generation": {}}),
    ("litellm_settings", "cost_margin_config", {"global": 0.05}),
    ("litellm_settings", "disable_end_user_cost_tracking", True),
    ("general_settings", "service_account_settings", {"enforced_params": ["user"]}),
    ("router_settings", "tag_routing_prefix", "route:"),
    ("", "policies", {"p": {}}),
])
def test_keys_llmrelay_cannot_honour_stop_the_start(tmp_path: Path, section: str, key: str,
                                                     value: Any) -> None:
    data: dict[str, Any] = {key: value} if not section else {section: {key: value}}
    with pytest.raises(ConfigError, match=key):
        load_config(write(tmp_path, data))


def test_database_timeout_counting_and_fail_closed(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, {"general_settings": {
        "database_url": "postgresql://u@127.0.0.1/db", "database_connection_timeout": 60,
        "database_connect_timeout": 7, "token_rate_limit_type": "total",
        "fail_closed_budget_enforcement": True}}))
    assert cfg.database_options["connect_timeout"] == 7.0
    assert cfg.accounting.limits_failure_policy == "fail_closed"
    cfg = load_config(write(tmp_path, {"general_settings": {
        "fail_closed_budget_enforcement": True, "limits_failure_policy": "fail_open"}}, "b.yaml"))
    assert cfg.accounting.limits_failure_policy == "fail_open"  # the explicit one wins
    with pytest.raises(ConfigError, match="token_rate_limit_type"):
        load_config(write(tmp_path, {"general_settings": {"token_rate_limit_type": "output"}},
                          "c.yaml"))


def test_clear_errors_for_litellm_caches_and_unset_pass_through_targets(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="LiteLLM's s3 cache is not implemented"):
        load_config(write(tmp_path, {"litellm_settings": {
            "cache": True, "cache_params": {"type": "s3", "s3_bucket_name": "b"}}}))
    monkeypatch.delenv("NO_SUCH_BASE_4711", raising=False)
    with pytest.raises(ConfigError, match="NO_SUCH_BASE_4711 is not set"):
        load_config(write(tmp_path, {"general_settings": {"pass_through_endpoints": [
            {"path": "/x", "target": "os.environ/NO_SUCH_BASE_4711"}]}}, "p.yaml"))


async def test_image_generation_and_moderation_models(tmp_path: Path) -> None:
    models = [mock("img-a", "img-a", "mock/dall-e-2"), mock("img-b", "img-b", "mock/dall-e-3"),
              mock("mod-default", "mod-default", "mock/omni-moderation-latest"),
              mock("mod-own", "mod-own", "mock/omni-moderation-latest")]
    async with in_process(tmp_path, {"model_list": models, "general_settings": {
            "image_generation_model": "img-b", "moderation_model": "mod-own"}}) as p:
        r = await p.post("/v1/images/generations", {"model": "img-a", "prompt": "a cat"})
        assert r.status_code == 200, r.text
        assert r.headers["x-litellm-model-id"] == "img-b"  # every image call: img-b
        r = await p.post("/v1/moderations", {"input": "hello"})
        assert r.status_code == 200, r.text
        assert r.headers["x-litellm-model-id"] == "mod-own"  # no model named: the setting
        r = await p.post("/v1/moderations", {"input": "hello", "model": "mod-default"})
        assert r.headers["x-litellm-model-id"] == "mod-default"  # a named one is kept


async def test_default_team_disabled(tmp_path: Path) -> None:
    async with in_process(tmp_path, {"model_list": [mock("a", "a")], "general_settings": {
            "default_team_disabled": True}}) as p:
        user = await p.post("/user/new", {"user_id": "dev", "user_role": "internal_user"})
        assert user.status_code == 200, user.text
        dev = user.json()["key"]
        assert (await p.post("/team/new", {"team_id": "t1", "members_with_roles": [
            {"user_id": "dev", "role": "user"}]})).status_code == 200
        r = await p.post("/key/generate", {}, key=dev)
        assert r.status_code == 403 and "default_team_disabled" in r.text
        assert (await p.post("/key/generate", {"team_id": "t1"}, key=dev)).status_code == 200
        assert (await p.post("/key/generate", {})).status_code == 200  # the master key may


def _team_logging_config(lf: LangfuseServer) -> dict[str, Any]:
    return {"model_list": [mock("a", "a")], "litellm_settings": {"default_team_settings": [
        {"team_id": "t1", "success_callback": ["langfuse"], "failure_callback": ["langfuse"],
         "langfuse_public_key": lf.public_key, "langfuse_secret": lf.secret_key,
         "langfuse_host": lf.host},
        {"team_id": "t2", "success_callback": ["langfuse"],
         "langfuse_public_key": "os.environ/TEAM2_LF_PUBLIC_UNSET",
         "langfuse_secret": "os.environ/TEAM2_LF_SECRET_UNSET", "max_budget": 10}]}}


async def test_default_team_settings_send_a_teams_calls_to_its_langfuse(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LANGFUSE_PUBLIC_KEY", "pk-proxy-wide")  # never used for a team
    monkeypatch.setenv("LANGFUSE_SECRET_KEY", "sk-proxy-wide")
    with LangfuseServer("pk-lf-team1", "sk-lf-team1") as lf:
        async with in_process(tmp_path, _team_logging_config(lf)) as p:
            cfg = p.app.state.proxy.cfg
            reported = dict(cfg.unused)
            assert "not set" in reported["litellm_settings.default_team_settings[1]"]
            assert "litellm_settings.default_team_settings[1].max_budget" in reported
            assert cfg.team_callbacks["t2"] == {}  # no proxy-wide keys for team 2
            [logger] = cfg.team_callbacks["t1"]["success_callback"]
            assert logger.public_key == "pk-lf-team1" and logger.host == lf.host
            for team in ("t1", "t2"):
                assert (await p.post("/team/new", {"team_id": team})).status_code == 200
            t1 = await p.new_key(team_id="t1")
            t2 = await p.new_key(team_id="t2")
            alone = await p.new_key()
            for key in (t2, alone, t1):
                body = {"model": "a", "messages": [{"role": "user", "content": key[-6:]}]}
                assert (await p.post("/v1/chat/completions", body, key=key)).status_code == 200
            deadline = time.monotonic() + 15
            while not lf.spans() and time.monotonic() < deadline:
                await asyncio.to_thread(logger.flush, 1.0)
                await asyncio.sleep(0.1)
            await asyncio.to_thread(logger.flush, 2.0)
            texts = str(lf.spans())
            assert t1[-6:] in texts  # the team's call, in the team's project
            assert t2[-6:] not in texts and alone[-6:] not in texts
            sender = logger.sender._thread
        for _ in range(50):  # the proxy's stop closed the team's logger
            if sender is None or not sender.is_alive():
                break
            await asyncio.sleep(0.1)
        assert sender is None or not sender.is_alive()
