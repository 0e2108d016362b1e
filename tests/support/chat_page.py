"""The ``infercore app`` page driven in headless Chromium through Playwright.

Debian's Chromium (no browser download is reachable to fetch Playwright's own),
with the switches that keep it off the network: the page may talk to 127.0.0.1 only,
and every request it makes is recorded so that a test can say so.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

from playwright.sync_api import Browser, Page, expect, sync_playwright

from infercore.testing import INFERCORE_COMMAND

__all__ = ["APP", "ONE_THREAD", "ChatPage", "chromium"]

#: ``infercore app``, for ``infercore.testing.deployed(..., command=APP, ready_path="/")``.
APP = [*INFERCORE_COMMAND, "app"]
#: One torch thread per process: the server, the app and the browser share the cores.
ONE_THREAD = {"OMP_NUM_THREADS": "1"}

_SWITCHES = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Long enough for a CPU answer of a few dozen tokens under a loaded machine.
ANSWER_TIMEOUT_MS = 120_000


@contextmanager
def chromium() -> Iterator[Browser]:
    """Headless Chromium: $INFERCORE_TEST_BROWSER, else Debian's /usr/bin/chromium."""
    binary = os.environ.get("INFERCORE_TEST_BROWSER", "/usr/bin/chromium")
    if not Path(binary).exists():
        raise RuntimeError(
            f"no Chromium at {binary}: apt-get install chromium (or run `nox -s tests-app`)"
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=binary, args=_SWITCHES)
        try:
            yield browser
        finally:
            browser.close()


class ChatPage:
    """One browser tab on the app: ask, wait for the answer, change the controls.

    ``shots`` is the folder each :meth:`shot` saves a screenshot in.
    """

    def __init__(self, browser: Browser, url: str, shots: Path) -> None:
        self.context = browser.new_context(viewport={"width": 1280, "height": 1000})
        self.page: Page = self.context.new_page()
        self.hosts: set[str] = set()
        self.page.on(
            "request", lambda request: self.hosts.add(urlparse(request.url).hostname or "")
        )
        self.shots = shots
        self._before = ""
        self.page.goto(url)
        self.page.locator("#prompt textarea").wait_for()

    def close(self) -> None:
        self.context.close()

    def shot(self, name: str) -> Path:
        path = self.shots / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def ask(self, text: str, files: list[Path] | None = None) -> float:
        """Send a question; the time it was sent."""
        if files:
            self.page.locator("#prompt input[type=file]").set_input_files([str(f) for f in files])
            # The files show as thumbnails once uploaded; sending earlier drops them.
            expect(self.page.locator("#prompt .thumbnail-item")).to_have_count(len(files))
        self.type(text)
        return self.send()

    def type(self, text: str) -> None:
        """Write a question in the box, not sent yet."""
        self._before = self.figures()
        self.page.locator("#prompt textarea").fill(text)

    def send(self) -> float:
        """Send what the box holds; the time it was sent."""
        sent = time.perf_counter()
        self.page.locator("#prompt textarea").press("Enter")
        return sent

    def figures(self) -> str:
        return self.page.locator("#figures").inner_text()

    def wait_answer(self) -> str:
        """The figures line of the answer just asked for, once it is complete: a new line
        (its timings differ from the one before) with the engine's counts."""
        deadline = time.monotonic() + ANSWER_TIMEOUT_MS / 1000
        while time.monotonic() < deadline:
            figures = self.figures()
            if "tokens/s" in figures and figures != self._before:
                # The chat's pending bubble leaves once gradio has closed the event.
                expect(self.page.locator('#chat [aria-label="Loading response"]')).to_have_count(0)
                return figures
            time.sleep(0.05)
        raise AssertionError(f"no answer came; the figures line reads {self.figures()!r}")

    def regenerate(self) -> None:
        self._before = self.figures()
        self.click("regenerate")

    def wait_streaming(self, at_least: int) -> str:
        """The answer so far, once it holds ``at_least`` characters and is still coming."""
        deadline = time.monotonic() + ANSWER_TIMEOUT_MS / 1000
        while time.monotonic() < deadline:
            text = self.last_answer()
            if len(text) >= at_least:
                expect(self.page.locator("#figures")).to_contain_text("Answering")
                return text
            time.sleep(0.05)
        raise AssertionError(f"no streamed answer of {at_least} characters")

    def answers(self) -> list[str]:
        return self.page.locator("#chat .message.bot").all_inner_texts()

    def last_answer(self) -> str:
        answers = self.answers()
        return answers[-1] if answers else ""

    def set_number(self, elem_id: str, value: float) -> None:
        """Type ``value`` into a slider's (or a number field's) box, as a user does."""
        box = self.page.locator(f"#{elem_id} input[type=number]")
        box.fill(str(value))
        box.press("Enter")

    def set_system(self, text: str) -> None:
        box = self.page.locator("#system textarea")
        box.fill(text)
        box.blur()

    def click(self, elem_id: str) -> None:
        self.page.locator(f"#{elem_id}").click()

    def running(self) -> str:
        return self.page.locator("#running").inner_text()

    def error_toasts(self) -> list[str]:
        return self.page.locator(".toast-body.error").all_inner_texts()
