"""The agent review page in a real browser (Debian's chromium through Playwright): log in with a
token, see the queue with the evidence highlighted and the text escaped, override a severity."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.service.conftest import BOT, Server

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists() and shutil.which("chromium") is None,
    reason="the browser test needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)",
)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield browser
        browser.close()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_agent_logs_in_sees_highlighted_evidence_and_overrides(serve: Any, browser: Any) -> None:
    """R-1 (no rule fired) and R-2 (a P2 rule at confidence 0.75, under the 0.8 threshold set
    here) are queued; R-2's evidence words are marked, R-1's HTML is shown as text."""
    server: Server = serve(review_below=0.8)
    hostile = "Hola, el logo se ve distinto. <script>alert(1)</script> & <b>no</b>"
    posted = server.client.post(
        "/v1/tickets",
        json=[
            {
                "id": "R-1",
                "subject": "",
                "body": hostile,
                "plan": "business_plus",
                "timezone": "UTC",
                "country": "ES",
            },
            {
                "id": "R-2",
                "subject": "Inbox",
                "body": "Creo que la bandeja no funciona para algunos usuarios.",
                "plan": "business_plus",
                "timezone": "UTC",
                "country": "ES",
            },
        ],
        headers=BOT,
    )
    assert posted.status_code == 200, posted.text
    page = browser.new_page()
    page.goto(f"{server.url}/review")
    page.fill("input[name=token]", "wrong-token-123")
    page.click("#login button")
    assert "Unknown token" in page.text_content("[role=alert]")
    page.fill("input[name=token]", "tok-agent-ana-123")
    page.click("#login button")
    assert page.text_content("#actor") == "ana"

    card = page.locator("#ticket-R-1")
    assert "<script>alert(1)</script> & <b>no</b>" in card.locator(".body").inner_text()
    assert card.locator(".body script").count() == 0 and card.locator(".body b").count() == 0
    assert "h" in card.locator(".countdown").inner_text()

    evidence = page.locator("#ticket-R-2 .body mark")
    assert evidence.count() >= 1
    assert "no funciona" in [m.inner_text() for m in evidence.all()]

    card.locator("form.override select").select_option("P4")
    card.locator("form.override textarea").fill("Cosmetic only.")
    card.locator("form.override button").click()
    assert "R-1: severity overridden." in page.text_content("[role=status]")
    assert page.locator("#ticket-R-1").count() == 0
    stored = server.client.get("/v1/tickets/R-1").json()
    assert (stored["severity"], stored["reviews"][0]["agent"]) == ("P4", "ana")
    assert stored["reviews"][0]["reason"] == "Cosmetic only."
    page.close()
