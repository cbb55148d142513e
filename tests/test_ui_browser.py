"""The viewer in a real browser: headless Chromium (the system's, driven by Playwright) on `/ui` of
a real HTTP server whose scratchpad ran a scripted session. Screenshots are saved as test artifacts
(the path is printed)."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from test_http import TOKENS, call, connect
from test_ui import Viewed, viewing

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.timeout(180),
    pytest.mark.skipif(shutil.which("chromium") is None, reason="the viewer's browser tests need Debian's chromium"),
]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
#: Milliseconds the page may take to show what the API has (it polls every 1.5 s).
SHOWN = 15_000


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
async def viewed(tmp_path_factory: pytest.TempPathFactory, anyio_backend: str) -> AsyncIterator[Viewed]:
    async with viewing(tmp_path_factory.mktemp("ui-browser")) as viewed:
        yield viewed


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("ui-screenshots")
    print(f"\nviewer screenshots: {folder}")
    return folder


@pytest.fixture(scope="module")
async def page(viewed: Viewed, anyio_backend: str) -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            tab = await browser.new_page(viewport={"width": 1400, "height": 1000})
            await tab.goto(f"{viewed.base}/ui/?token={TOKENS['alice']}")
            yield tab
        finally:
            await browser.close()


async def test_the_page_lists_the_session_and_the_scope_shows_the_dataframe_preview(
    viewed: Viewed, page: Any, screenshots: Path
) -> None:
    assert page.url == f"{viewed.base}/ui/#{viewed.handle}" or page.url.startswith(f"{viewed.base}/ui/")
    session = page.locator(f'a.session[data-session="{viewed.handle}"]')
    await session.wait_for(timeout=SHOWN)
    assert "live" in await session.locator(".dot").get_attribute("class")
    table = page.locator('details.variable[data-name="sales"] table')
    await table.wait_for(timeout=SHOWN)
    assert await table.locator("thead th").all_inner_texts() == ["", "region", "amount"]
    assert await table.locator("tbody tr").first.locator("td").all_inner_texts() == ["east", "95"]
    thumbnail = page.locator('details.variable[data-name="picture"] img')
    assert await thumbnail.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [320, 160]
    await page.screenshot(path=str(screenshots / "scope.png"), full_page=True)


async def test_the_history_shows_the_cut_reply_beside_the_full_output(
    viewed: Viewed, page: Any, screenshots: Path
) -> None:
    await page.click('.tabs button[data-tab="history"]')
    big = page.locator("article.execution", has=page.locator("mark.cut"))
    await big.wait_for(timeout=SHOWN)
    full = await big.locator("pre.output").inner_text()
    sent = await big.locator("pre.sent").inner_text()
    assert "line 00000" in full and "line 00200" in full and "line 00399" in full
    assert "line 00200" not in sent and "line 00399" in sent
    assert "characters cut here" in await big.locator("mark.cut").inner_text()
    # The reply opens scrolled to its cut.
    await page.wait_for_function("() => document.querySelector('pre.sent[data-scrolled]') !== null", timeout=SHOWN)
    assert await big.locator("pre.sent").evaluate("e => e.scrollTop") > 0
    assert await big.locator("pre.code .hl-b").first.inner_text() == "print"
    await big.screenshot(path=str(screenshots / "history.png"))


async def test_the_agent_tree_shows_three_agents_with_the_failure_and_its_reason(
    viewed: Viewed, page: Any, screenshots: Path
) -> None:
    await page.click('.tabs button[data-tab="agents"]')
    counter = page.locator('button.agent[data-agent="counter"]')
    await counter.wait_for(timeout=SHOWN)
    nested = page.locator('li:has(> button[data-agent="counter"]) > ul button[data-agent="summariser"]')
    assert await nested.count() == 1
    doomed = page.locator('button.agent[data-agent="doomed"]')
    assert await doomed.locator(".badge").inner_text() == "failed"
    assert "max_turns=1" in await doomed.locator(".reason").inner_text()
    assert await page.locator("button.agent").count() == 3
    await doomed.click()
    detail = page.locator(".agent-detail")
    await detail.locator("text=ValueError: no data for 2019").wait_for(timeout=SHOWN)
    await page.screenshot(path=str(screenshots / "agents.png"), full_page=True)


async def test_an_agent_started_while_the_page_is_open_appears_without_a_reload(
    viewed: Viewed, page: Any, screenshots: Path
) -> None:
    await page.click('.tabs button[data-tab="agents"]')
    await page.locator('button.agent[data-agent="counter"]').wait_for(timeout=SHOWN)
    loads = []
    page.on("load", lambda _: loads.append(1))
    async with connect(viewed.server, "alice", "legacy") as client:
        code = "late = spawn_agent('Arrive late', model=script('submit(7)'), name='latecomer')"
        text, error = await call(client, "execute_code", code=code, scratchpad=viewed.handle)
        assert not error, text
    late = page.locator('button.agent[data-agent="latecomer"]')
    await late.wait_for(timeout=SHOWN)
    await late.locator(".badge.done").wait_for(timeout=SHOWN)
    assert loads == []
    await page.screenshot(path=str(screenshots / "live.png"), full_page=True)
