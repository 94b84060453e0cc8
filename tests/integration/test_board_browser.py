"""The board page in a real headless browser (Debian's chromium through playwright's
executable_path; no browser download) against real workers on tansu."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.embedded_broker import free_port
from tests.integration.board_harness import TOKEN, board_cases, board_workers, get_json, load_cases, wait_listed
from tests.integration.kafka_helpers import create_topics, created, now_utc, unique_topics

CHROMIUM = Path("/usr/bin/chromium")
REPO = Path(__file__).resolve().parents[2]
#: The README's picture; rewritten only when MONITOR_UPDATE_SCREENSHOT=1, else the test shoots into tmp_path.
SCREENSHOT = REPO / "docs" / "board.png"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
LAPTOP = {"width": 1366, "height": 768}

pytestmark = [pytest.mark.timeout(240),
              pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium not installed (tests/run.sh installs it)")]


@asynccontextmanager
async def chromium() -> AsyncIterator[Any]:
    """Debian's chromium, headless, driven by playwright."""
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield browser
        finally:
            await browser.close()


async def rows(page: Any) -> list[str]:
    """Case ids of the board's rows, top to bottom."""
    return list(await page.eval_on_selector_all("#board tbody tr", "rs => rs.map(r => r.dataset.caseId)"))


async def wait_rows(page: Any, predicate: Any, what: str, timeout_s: float = 30) -> list[str]:
    """Poll the page's rows until predicate(rows) holds (bounded)."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = await rows(page)
        if predicate(found):
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; rows {found}")
        await asyncio.sleep(0.2)


async def test_page_lists_the_api_order_counts_down_shows_new_breaches_and_filters(broker) -> None:
    names, partitions = unique_topics(partitions=2)
    await create_topics(broker.bootstrap, names, partitions)
    await load_cases(broker.bootstrap, names, board_cases(now_utc()))
    async with board_workers(broker.bootstrap, names, 2) as (a, _b), chromium() as browser:
        api = await wait_listed(f"{a}/api/cases", 4)
        context = await browser.new_context(viewport=LAPTOP, timezone_id="America/New_York")
        page = await context.new_page()
        await page.goto(f"{a}/board")
        expected = [item["case_id"] for item in api["items"]]
        assert await wait_rows(page, lambda r: r == expected, "the API's list") == expected

        # times in the viewer's zone, UTC on hover
        item = api["items"][0]
        due = page.locator(f'tr[data-case-id="{item["case_id"]}"] td.due')
        assert await due.get_attribute("title") == f"{item['due_at']} (UTC)"
        assert await page.evaluate("Intl.DateTimeFormat().resolvedOptions().timeZone") == "America/New_York"

        # the countdown moves between polls
        countdown = page.locator('tr[data-case-id="R-SOON"] td.countdown')
        first = await countdown.inner_text()
        assert re.fullmatch(r"0?[0-3]m \d\ds", first), first
        deadline = time.monotonic() + 10
        while await countdown.inner_text() == first:
            assert time.monotonic() < deadline, "countdown did not move"
            await asyncio.sleep(0.1)

        # a case reaching its due instant turns breached without a reload
        await page.evaluate("window.__notReloaded = true")
        now = now_utc()
        live = created("B-LIVE", now - timedelta(seconds=600 - 8), plan="gold", priority="P1", customer_id="umbrella")
        await load_cases(broker.bootstrap, names, [live])
        row = page.locator('tr[data-case-id="B-LIVE"]')
        await row.wait_for(timeout=30_000)
        await page.wait_for_function(   # the server's stage, not the page's own countdown
            "document.querySelector('tr[data-case-id=\"B-LIVE\"]').dataset.stage === 'breached'", timeout=40_000)
        assert await row.get_attribute("class") == "stage-breached"
        assert await page.evaluate("window.__notReloaded === true")
        assert "late" in await row.locator("td.countdown").inner_text()

        # a filter narrows the list
        await page.fill('input[name="customer"]', "acme")
        acme = await wait_rows(page, lambda r: r == ["B-OLD", "R-LATE"], "the acme rows")
        _, body = await get_json(f"{a}/api/cases?customer=acme")
        assert acme == [i["case_id"] for i in body["items"]]
        await page.select_option('select[name="state"]', "running")
        await wait_rows(page, lambda r: r == ["B-OLD", "R-LATE", "OK-2"], "every running acme clock")

        # usable on a laptop, at 100 % and 80 % zoom: the table fits the width
        fits = "document.querySelector('main').scrollWidth <= document.querySelector('main').clientWidth"
        await page.select_option('select[name="state"]', "at_risk,breached")
        await page.fill('input[name="customer"]', "")
        await wait_rows(page, lambda r: len(r) == 5, "every at-risk and breached row")
        assert await page.evaluate(fits)
        await page.evaluate("document.body.style.zoom = '0.8'")
        assert await page.evaluate(fits)
        await context.close()


async def refused(url: str, credentials: dict[str, str] | None) -> bool:
    """Whether a fresh browser (anonymous, or signing in with these credentials) is refused the page."""
    async with chromium() as browser:
        context = await browser.new_context(viewport=LAPTOP, http_credentials=credentials)
        page = await context.new_page()
        try:
            response = await page.goto(url)
        except Exception as exc:   # chromium gives up on an auth challenge it cannot answer
            assert "ERR_INVALID_AUTH_CREDENTIALS" in str(exc), exc
            return True
        assert response is not None
        return response.status == 401 and await page.locator("#board").count() == 0


async def test_with_a_token_the_page_is_refused_until_signed_in(broker) -> None:
    names, partitions = unique_topics(partitions=2)
    await create_topics(broker.bootstrap, names, partitions)
    await load_cases(broker.bootstrap, names, board_cases(now_utc()))
    async with board_workers(broker.bootstrap, names, 1, MONITOR_HTTP_AUTH_TOKEN=TOKEN) as (a,):
        await wait_listed(f"{a}/api/cases", 4, headers={"Authorization": f"Bearer {TOKEN}"})
        assert await refused(f"{a}/board", None)
        assert await refused(f"{a}/board", {"username": "board", "password": "not-the-token-0000"})
        # signing in: HTTP Basic with the token as password (the browser's own prompt)
        async with chromium() as browser:
            context = await browser.new_context(viewport=LAPTOP, http_credentials={"username": "board", "password": TOKEN})
            page = await context.new_page()
            response = await page.goto(f"{a}/board")
            assert response is not None and response.status == 200
            await wait_rows(page, lambda r: r == ["B-OLD", "B-NEW", "R-SOON", "R-LATE"], "the list after signing in")


async def test_demo_board_screenshot(tmp_path: Path) -> None:
    """`monitor run` prints the board's URL; its board fills with cases; the README screenshot is taken from it."""
    port = free_port()
    shot = SCREENSHOT if os.environ.get("MONITOR_UPDATE_SCREENSHOT") == "1" else tmp_path / "board.png"
    env = {**os.environ, "MONITOR_WEB_PORT": str(port), "MONITOR_LOG_LEVEL": "WARNING"}
    env.pop("KAFKA_BROKER", None)
    log_path = tmp_path / "run.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "monitor", "run", "--duration", "120", "--seed", "3"],
                                cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=log, start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}/board"
        deadline = time.monotonic() + 30
        while f"escalation board: {url}" not in log_path.read_text(errors="replace"):
            assert proc.poll() is None and time.monotonic() < deadline, log_path.read_text(errors="replace")
            await asyncio.sleep(0.1)
        async with chromium() as browser:
            context = await browser.new_context(viewport=LAPTOP, timezone_id="Europe/Paris")
            page = await context.new_page()
            deadline = time.monotonic() + 60
            while True:
                try:
                    await page.goto(url)
                    break
                except Exception:
                    assert time.monotonic() < deadline, "the demo's board never answered"
                    await asyncio.sleep(0.5)

            async def stages() -> list[str]:
                return list(await page.eval_on_selector_all("#board tbody tr", "rs => rs.map(r => r.className)"))

            deadline = time.monotonic() + 90
            while True:
                found = await stages()
                paused = await page.locator("td.countdown.paused").count()
                if len(found) >= 12 and "stage-breached" in found and "stage-warned" in found and paused:
                    break
                assert time.monotonic() < deadline, f"the demo board did not fill: {found}"
                await asyncio.sleep(0.5)
            assert "demo clock ×600" in await page.locator("#clock").inner_text()
            assert await page.evaluate("document.querySelector('main').scrollWidth <= document.querySelector('main').clientWidth")
            await page.screenshot(path=str(shot))
            await context.close()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert shot.stat().st_size > 10_000
