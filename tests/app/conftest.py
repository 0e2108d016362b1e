"""What the app's browser tests share: one browser, pages that are
checked for error toasts and for requests off the loopback address."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from chat_page import ChatPage, chromium
from playwright.sync_api import Browser


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with chromium() as opened:
        yield opened


@pytest.fixture
def open_page(browser: Browser, tmp_path: Path) -> Iterator[Callable[[str], ChatPage]]:
    """Pages on the app; each checked, once the test is done, for error toasts and for
    any request that left the loopback address."""
    pages: list[ChatPage] = []

    def open_one(url: str) -> ChatPage:
        page = ChatPage(browser, url, tmp_path)
        pages.append(page)
        return page

    yield open_one
    for page in pages:
        assert page.error_toasts() == []
        assert page.hosts == {"127.0.0.1"}
        page.close()
