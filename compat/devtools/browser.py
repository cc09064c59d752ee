"""Headless Chromium driven through selenium: how the report is opened by the browser
test and by the bench. Debian's ``chromium`` and ``chromium-driver`` packages provide it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

# Looked up on the PATH: Debian puts them in /usr/bin, other systems (snap, Homebrew, a
# CI image) elsewhere and sometimes under the other name.
CHROMIUM_NAMES = ("chromium", "chromium-browser")
CHROMEDRIVER_NAMES = ("chromedriver",)
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def _found(names: tuple[str, ...]) -> str | None:
    return next(filter(None, map(shutil.which, names)), None)


def chromium() -> str | None:
    return _found(CHROMIUM_NAMES)


def chromedriver() -> str | None:
    return _found(CHROMEDRIVER_NAMES)


def missing() -> str | None:
    """Why no browser can be started here, in one line; None when one can."""
    if not chromium() or not chromedriver():
        return (
            f"needs {' or '.join(CHROMIUM_NAMES)} and {' or '.join(CHROMEDRIVER_NAMES)} on the PATH "
            f"(apt-get install chromium chromium-driver)"
        )
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "needs selenium (pip install selenium)"
    return None


def start(profile: Path):
    """A fresh headless Chromium: its own profile, so nothing is cached from an earlier run."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary = chromium()
    if binary is None:  # callers ask missing() first; this says the same if one did not
        raise RuntimeError(f"no browser to start: {missing()}")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.add_argument("--window-size=1280,900")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    browser = webdriver.Chrome(service=Service(chromedriver()), options=options)
    browser.set_page_load_timeout(30)
    return browser


def open_timings(browser, page: Path) -> dict:
    """Open ``page`` and read the browser's own navigation timings, in milliseconds."""
    browser.get(page.resolve().as_uri())
    timing = browser.execute_script(
        "const t = performance.getEntriesByType('navigation')[0];"
        "return {dom: t.domContentLoadedEventEnd, load: t.loadEventEnd};"
    )
    return {"dom_content_loaded_ms": round(timing["dom"]), "load_ms": round(timing["load"])}
