"""The page in a real browser: Playwright drives Debian's Chromium against ``abm-hetero viz``.

Needs /usr/bin/chromium (``.ci/run`` installs it). Without it these tests are skipped, unless
``ABM_HETERO_REQUIRE_BROWSER=1`` (set by CI) turns the missing browser into a failure. The
screenshot is saved to ``test-artifacts/page.png``.
"""

import os
import re
import time
from pathlib import Path

import pytest
from processes import serving_page

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]

if not Path(CHROMIUM).exists():
    if os.environ.get("ABM_HETERO_REQUIRE_BROWSER") == "1":
        raise RuntimeError(f"{CHROMIUM} is missing but ABM_HETERO_REQUIRE_BROWSER=1")
    pytest.skip(f"{CHROMIUM} is not installed", allow_module_level=True)
playwright = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def server():
    with serving_page(timeout=90) as port:
        yield f"http://127.0.0.1:{port}/"


@pytest.fixture(scope="module")
def browser_page(server):
    failures = []
    with playwright.sync_playwright() as p:
        # Playwright gives every launch a fresh, empty profile of its own
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1100})
        page.on("requestfailed", lambda r: failures.append(f"failed {r.url}"))
        page.on("response", lambda r: failures.append(f"{r.status} {r.url}")
                if r.status >= 400 else None)
        page.goto(server)
        page.get_by_role("button", name="Reset").wait_for(timeout=60_000)
        yield page, failures
        browser.close()


def step_count(page) -> int:
    text = page.get_by_text(re.compile(r"^Step: \d+$")).first.inner_text()
    return int(text.split(":")[1])


def wait_for(predicate, timeout=30.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.25)
    return False


def chart_source(page) -> str:
    return page.locator("img").first.get_attribute("src") or ""


def test_reset_then_step_advances_the_tick_counter(browser_page):
    page, _ = browser_page
    page.get_by_role("button", name="Reset").click()
    assert wait_for(lambda: step_count(page) == 0)
    page.get_by_role("button", name="Step").click()
    assert wait_for(lambda: step_count(page) > 0)
    assert page.get_by_text(re.compile(r"^Tick: \d+$")).first.is_visible()


def test_play_moves_the_price_chart(browser_page):
    page, _ = browser_page
    page.get_by_role("button", name="Reset").click()
    assert wait_for(lambda: step_count(page) == 0)
    before = chart_source(page)
    page.get_by_role("button", name="▶").click()
    assert wait_for(lambda: step_count(page) >= 20)
    page.get_by_role("button", name=re.compile("⏸|❚❚")).click()
    assert chart_source(page) != before


def test_changing_the_population_and_reset_rebuilds_the_model(browser_page):
    page, _ = browser_page
    page.locator(".v-select").first.click()
    page.get_by_role("option", name="fcn").click()
    page.get_by_role("button", name="Reset").click()
    assert wait_for(lambda: page.get_by_text("Population: fcn").count() > 0)
    page.get_by_role("button", name="Step").click()
    assert wait_for(lambda: step_count(page) > 0)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "page.png"), full_page=True)
    assert (ARTIFACTS / "page.png").stat().st_size > 10_000


def test_no_asset_request_failed(browser_page):
    _, failures = browser_page
    assert failures == []
