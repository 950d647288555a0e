"""The admin dashboard in a real headless Chromium (Debian's package, driven by Playwright)
against a real ``llmrelay serve``: sign in with the master key, create a team and a key in
the page, call the proxy with that key through the official ``openai`` client, see the
calls in the request log and the spend plot, block the key in the page and see the next
call refused, read the changes in the audit log; then a phone-width pass and a
keyboard-only sign-in. Screenshots are saved as artifacts (browser_support.ARTIFACTS)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from browser_support import Watch, browser, shot
from playwright.sync_api import expect
from proxy_harness import MASTER_KEY, Proxy, start_proxy

PRICED = {"input_cost_per_token": 0.001, "output_cost_per_token": 0.002}
TIMEOUT_MS = 20_000  # generous: the machine running the tests may be busy


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    yield from browser()


@pytest.fixture(scope="module")
def proxy(module_tmp: Path) -> Iterator[Proxy]:
    models = [{"model_name": name, "litellm_params": {"model": f"mock/{name}",
                                                      "mock_response": f"hello from {name}"},
               "model_info": {"id": f"dep-{name}", **PRICED}}
              for name in ("mock-gpt", "mock-small")]
    config = {"model_list": models,
              "general_settings": {"store_prompts_in_spend_logs": True}}
    p = start_proxy(module_tmp / "proxy", config, master_key=MASTER_KEY)
    yield p
    p.stop()


def open_page(chromium: Any, proxy: Proxy, **context: Any) -> tuple[Any, Any, Watch]:
    ctx = chromium.new_context(**context)
    ctx.set_default_timeout(TIMEOUT_MS)
    page = ctx.new_page()
    return ctx, page, Watch(page, proxy.url)


def sign_in(page: Any, proxy: Proxy, key: str = MASTER_KEY) -> None:
    response = page.goto(proxy.url + "/ui")
    assert response.status == 200
    assert "script-src 'self'" in response.headers["content-security-policy"]
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("navigation", name="Dashboard pages").wait_for()


def go(page: Any, name: str) -> None:
    page.get_by_role("navigation").get_by_role("link", name=name, exact=True).click()
    page.get_by_role("heading", level=1, name=name).wait_for()


def chat(proxy: Proxy, key: str, text: str) -> Any:
    return proxy.client(key).chat.completions.create(
        model="mock-gpt", messages=[{"role": "user", "content": text}])


def test_admin_flow(chromium: Any, proxy: Proxy) -> None:
    ctx, page, watch = open_page(chromium, proxy, viewport={"width": 1280, "height": 860})
    sign_in(page, proxy)
    assert page.evaluate("location.href").endswith("/ui#/keys")
    # the key is kept for this tab only, never in the address
    assert page.evaluate("sessionStorage.getItem('llmrelay.ui.key')") == MASTER_KEY
    assert MASTER_KEY not in page.url

    # a team, made in the page
    go(page, "Teams")
    page.get_by_role("button", name="New team").click()
    dialog = page.get_by_role("dialog", name="New team")
    dialog.get_by_label("Name").fill("research")
    dialog.get_by_label("Max budget (USD)").fill("50")
    dialog.get_by_role("button", name="Create").click()
    row = page.get_by_role("row").filter(has_text="research")
    row.wait_for()
    assert "$0.00 / $50.00" in row.inner_text()

    # a key in that team; the page shows the new key once
    go(page, "Keys")
    page.get_by_role("button", name="New key").click()
    dialog = page.get_by_role("dialog", name="New key")
    dialog.get_by_label("Alias").fill("ui-key")
    dialog.get_by_label("Team", exact=True).select_option(label="research")
    dialog.get_by_label("Max budget (USD)").fill("10")
    dialog.get_by_role("button", name="Create").click()
    secret = page.get_by_role("dialog", name="New key").locator("output")
    secret.wait_for()
    key = secret.inner_text().strip()
    assert key.startswith("sk-")
    shot(page, "dashboard-new-key", full=False)
    page.get_by_role("button", name="Done").click()
    row = page.get_by_role("row").filter(has_text="ui-key")
    assert "Active" in row.inner_text()

    # edit its limits in the page
    page.get_by_role("button", name="Edit key ui-key").click()
    dialog = page.get_by_role("dialog", name="Edit key ui-key")
    assert dialog.get_by_label("Max budget (USD)").input_value() == "10"
    dialog.get_by_label("Requests per minute").fill("600")
    dialog.get_by_role("button", name="Save").click()
    page.get_by_role("row").filter(has_text="600 rpm").wait_for()

    # calls through the proxy with the key, as a user makes them
    for i in range(3):
        answer = chat(proxy, key, f"question number {i}")
        assert answer.choices[0].message.content == "hello from mock-gpt"
    proxy.spend_logs(3, api_key=key)

    # the request log, filtered by the key, with the stored bodies
    go(page, "Request log")
    page.get_by_label("Key (sk-… or token)").fill(key)
    page.get_by_label("Status").select_option("success")
    page.get_by_role("button", name="Apply").click()
    page.get_by_text("3 requests shown.").wait_for()
    entries = page.get_by_role("list", name="Requests").get_by_role("listitem")
    assert entries.count() == 3
    assert "ui-key" in entries.first.inner_text()
    assert "mock-gpt" in entries.first.inner_text()
    entries.first.locator("summary").click()
    assert "question number 2" in entries.first.locator("pre").first.inner_text()
    assert "hello from mock-gpt" in entries.first.locator("pre").nth(1).inner_text()
    page.get_by_label("Model").fill("mock-small")
    page.get_by_role("button", name="Apply").click()
    page.get_by_text("No requests match.").wait_for()
    shot(page, "dashboard-request-log")

    # the spend page: totals, the plot drawn, the key and the team among the top spenders
    go(page, "Spend")
    totals = page.locator("dl.totals")
    totals.wait_for()
    assert "3" in totals.locator("div").filter(has_text="Requests").inner_text()
    spend_text = totals.locator("div").filter(has_text="Spend").inner_text()
    assert "$0.00" not in spend_text
    page.locator("figure.chart canvas").first.wait_for()
    assert page.locator("figure.chart canvas").count() == 2
    assert page.get_by_role("img", name="Spend (USD) by day: Spend (USD)").is_visible()
    top_keys = page.get_by_role("table", name="Top keys")
    assert "ui-key" in top_keys.inner_text()
    assert "research" in page.get_by_role("table", name="Top teams").inner_text()
    page.get_by_label("Measure", exact=True).select_option("requests")
    page.get_by_role("img", name="Requests by day: Requests").wait_for()
    shot(page, "dashboard-spend")

    # block the key in the page: the next call is refused
    go(page, "Keys")
    page.get_by_role("button", name="Block key ui-key").click()
    page.get_by_role("button", name="Unblock key ui-key").wait_for()
    assert "Blocked" in page.get_by_role("row").filter(has_text="ui-key").inner_text()
    refused = None
    deadline = time.monotonic() + 5
    while refused is None and time.monotonic() < deadline:
        try:
            chat(proxy, key, "after the block")
            time.sleep(0.1)
        except (openai.AuthenticationError, openai.PermissionDeniedError) as exc:
            refused = exc
    assert refused is not None, "the blocked key was still served"
    assert refused.status_code in (401, 403)
    shot(page, "dashboard-keys")

    # the audit log: who changed what, with the values before and after
    go(page, "Audit log")
    log = page.get_by_role("list", name="Audit entries")
    log.get_by_role("listitem").first.wait_for()
    text = log.inner_text()
    for action, table in (("created", "teams"), ("created", "keys"), ("updated", "keys"),
                          ("blocked", "keys")):
        assert any(action in line and table in line for line in text.splitlines()
                   if line.strip()) or (action in text and table in text), (action, table)
    blocked = log.get_by_role("listitem").filter(has_text="blocked").first
    assert "proxy_admin" in blocked.inner_text()
    blocked.locator("summary").click()
    changed = blocked.locator("tr.changed").filter(has_text="blocked")
    assert changed.inner_text().split() == ["blocked", "(changed)", "false", "true"] or (
        "false" in changed.inner_text() and "true" in changed.inner_text())
    page.get_by_label("Action").select_option("created")
    page.get_by_role("button", name="Apply").click()
    # a locator assertion, not wait_for_function: the page's CSP forbids eval'd predicates
    expect(page.locator("ul.log")).not_to_contain_text("blocked", use_inner_text=True)
    shot(page, "dashboard-audit")

    # regenerate and delete, with a confirmation
    go(page, "Keys")
    page.get_by_role("button", name="Unblock key ui-key").click()
    page.get_by_role("button", name="Block key ui-key").wait_for()
    page.get_by_role("button", name="Regenerate key ui-key").click()
    fresh = page.get_by_role("dialog", name="Regenerated key").locator("output")
    new_key = fresh.inner_text().strip()
    assert new_key.startswith("sk-") and new_key != key
    page.get_by_role("button", name="Done").click()
    assert chat(proxy, new_key, "with the new key").choices
    with pytest.raises(openai.AuthenticationError):
        chat(proxy, key, "with the old key")
    page.get_by_role("button", name="Delete key ui-key").click()
    page.get_by_role("dialog", name="Delete key ui-key?").get_by_role(
        "button", name="Delete").click()
    page.get_by_role("row").filter(has_text="ui-key").wait_for(state="detached")

    watch.check()
    ctx.close()


def test_every_page_renders_for_the_master_key(chromium: Any, proxy: Proxy) -> None:
    ctx, page, watch = open_page(chromium, proxy, viewport={"width": 1280, "height": 860})
    sign_in(page, proxy)
    for name in ("Users", "Organisations", "Models", "Teams", "Keys"):
        go(page, name)
        page.locator("#page .page-body > *").first.wait_for()
        assert not page.locator("#page .error").is_visible(), name
    go(page, "Models")
    models = page.get_by_role("table", name="Deployments and their health")
    assert "mock-gpt" in models.inner_text() and "Healthy" in models.inner_text()
    shot(page, "dashboard-models")
    go(page, "Organisations")
    page.get_by_role("button", name="New organisation").click()
    dialog = page.get_by_role("dialog", name="New organisation")
    dialog.get_by_label("Name").fill("acme")
    dialog.get_by_role("button", name="Create").click()
    page.get_by_role("row").filter(has_text="acme").wait_for()
    watch.check()
    ctx.close()


def test_a_users_key_sees_its_own_view(chromium: Any, proxy: Proxy) -> None:
    made = proxy.http.post("/user/new", headers=proxy.headers(),
                           json={"user_id": "dana", "user_role": "internal_user"})
    assert made.status_code == 200, made.text
    key = made.json()["key"]
    ctx, page, watch = open_page(chromium, proxy, viewport={"width": 1280, "height": 860})
    sign_in(page, proxy, key)
    nav = page.get_by_role("navigation", name="Dashboard pages").inner_text()
    assert "Keys" in nav and "Audit log" not in nav and "Users" not in nav
    assert "dana (internal_user)" in page.locator("#who").inner_text()
    rows = page.get_by_role("table", name="Virtual keys").get_by_role("row")
    rows.nth(1).wait_for()
    assert rows.count() == 2  # the header and dana's own key
    page.goto(proxy.url + "/ui#/audit")  # not in the menu; the API refuses it
    page.get_by_role("alert").filter(has_text="audit log").wait_for()
    watch.check()
    ctx.close()


def test_phone_width(chromium: Any, proxy: Proxy) -> None:
    ctx, page, watch = open_page(chromium, proxy, viewport={"width": 390, "height": 844},
                                 is_mobile=True, has_touch=True, device_scale_factor=2)
    sign_in(page, proxy)
    for name in ("Keys", "Spend", "Request log", "Models"):
        go(page, name)
        page.locator("#page .page-body > *").first.wait_for()
        wide = page.evaluate("document.documentElement.scrollWidth")
        assert wide <= 390, f"{name}: the page is {wide}px wide on a 390px screen"
        shot(page, f"dashboard-phone-{name.lower().replace(' ', '-')}")
    watch.check()
    ctx.close()


def test_keyboard_only_sign_in(chromium: Any, proxy: Proxy) -> None:
    ctx, page, watch = open_page(chromium, proxy, viewport={"width": 1024, "height": 768})
    page.goto(proxy.url + "/ui")
    page.get_by_label("API key").wait_for()
    # the sign-in field has the focus at once; a wrong key says so and keeps it
    assert page.evaluate("document.activeElement.id") == "signin-key"
    page.keyboard.type("sk-not-a-key")
    page.keyboard.press("Enter")
    page.get_by_role("alert").filter(has_text="refused").wait_for()
    assert page.evaluate("document.activeElement.id") == "signin-key"
    page.keyboard.press("Control+A")
    page.keyboard.type(MASTER_KEY)
    page.keyboard.press("Enter")
    page.get_by_role("button", name="New key").wait_for()
    assert page.evaluate("document.activeElement.id") == "main"  # focus moved to the page
    # Tab (backwards from the page, past "Sign out") reaches the menu; Enter opens a page
    for _ in range(12):
        page.keyboard.press("Shift+Tab")
        if page.evaluate("document.activeElement.textContent") == "Teams":
            break
    assert page.evaluate("[document.activeElement.tagName, document.activeElement."
                         "textContent]") == ["A", "Teams"]
    page.keyboard.press("Enter")
    page.get_by_role("heading", level=1, name="Teams").wait_for()
    # a dialog opens and closes from the keyboard, giving the focus back to the page
    page.get_by_role("button", name="New team").focus()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="New team")
    dialog.wait_for()
    assert page.evaluate("document.activeElement.closest('dialog') !== null")
    page.keyboard.press("Escape")
    dialog.wait_for(state="detached")
    shot(page, "dashboard-keyboard", full=False)
    watch.check()
    ctx.close()
