"""``/openapi.json`` describes every route of the proxy (kept in step with the route table),
and a bounded schemathesis run against a real ``llmrelay serve`` finds no 5xx and no
response that breaks the document (status codes, content types, bodies), for valid and
invalid requests alike.

The run's size: ``LLMRELAY_FUZZ_EXAMPLES`` examples per operation (default 25: about 15 s)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from proxy_harness import MASTER_KEY, Proxy, start_proxy
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from llmrelay.proxy.openapi import document
from llmrelay.proxy.routes import routes

EXAMPLES = int(os.environ.get("LLMRELAY_FUZZ_EXAMPLES", "25"))


def _route_table() -> set[tuple[str, str]]:
    out = set()
    for route in routes():
        path = re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path)  # type: ignore[attr-defined]
        for method in route.methods or ():  # type: ignore[attr-defined]
            if method != "HEAD":
                out.add((method, path))
    return out


def test_every_route_is_documented_and_nothing_else() -> None:
    from llmrelay.proxy.contract import CallerPolicy

    doc = document(CallerPolicy(), ["mock"], "0")
    documented = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    assert documented == _route_table(), (
        "routes and /openapi.json differ: describe new routes in llmrelay/proxy/openapi.py")
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            assert "200" in op["responses"] and "4XX" in op["responses"], (method, path)


def test_the_document_is_valid_openapi() -> None:
    from llmrelay.proxy.contract import CallerPolicy

    schema = schemathesis.openapi.from_dict(document(CallerPolicy(), ["mock"], "0"))
    assert len(list(schema.get_all_operations())) == len(_route_table())


def test_the_document_follows_the_config(tmp_path: Path) -> None:
    p = start_proxy(tmp_path, {"model_list": [{"model_name": "m1", "litellm_params": {
        "model": "mock/m1"}}], "general_settings": {
        "allowed_request_params": ["num_retries", "top_a"], "max_n": 4}})
    try:
        doc = p.http.get("/openapi.json").json()
    finally:
        p.stop()
    body = doc["paths"]["/v1/chat/completions"]["post"]["requestBody"]["content"][
        "application/json"]["schema"]
    assert body["properties"]["model"]["enum"] == ["m1"]
    assert body["properties"]["n"]["maximum"] == 4
    assert body["properties"]["num_retries"]["maximum"] == 10
    assert "top_a" in body["properties"] and "api_base" not in body["properties"]
    assert body["additionalProperties"] is False


@pytest.fixture(scope="module")
def proxy(module_tmp: Path) -> Iterator[Proxy]:
    config = {"model_list": [{"model_name": "mock", "litellm_params": {"model": "mock/mock"}}],
              "litellm_settings": {"num_retries": 0}}
    p = start_proxy(module_tmp, config, master_key=MASTER_KEY)
    yield p
    p.stop()


@pytest.fixture(scope="module")
def api_schema(proxy: Proxy) -> Any:
    return schemathesis.openapi.from_url(proxy.url + "/openapi.json")


def _operations() -> list[tuple[str, str]]:
    from llmrelay.proxy.contract import CallerPolicy

    doc = document(CallerPolicy(), ["mock"], "0")
    return sorted((m.upper(), p) for p, ops in doc["paths"].items() for m in ops)


# schemathesis's own pytest plugin does not run on this pytest version, so each operation
# gets a test here that draws cases from schemathesis's strategy with hypothesis.
@pytest.mark.parametrize(("method", "path"), _operations())
def test_fuzz_the_api(api_schema: Any, proxy: Proxy, method: str, path: str) -> None:
    operation = api_schema[path][method]
    checks = [not_a_server_error, status_code_conformance, content_type_conformance,
              response_schema_conformance]

    cases = st.one_of(operation.as_strategy(GenerationMode.POSITIVE),
                      operation.as_strategy(GenerationMode.NEGATIVE))

    @given(case=cases)
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck), phases=[Phase.generate])
    def run(case: Any) -> None:
        case.call_and_validate(base_url=proxy.url, timeout=30, checks=checks,
                               headers={"Authorization": f"Bearer {MASTER_KEY}"})

    run()
