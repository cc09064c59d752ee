"""``python -m compat.devtools.screenshots``: the published page's two answers as a reader gets them.

Headless Chromium opens ``reports/matrix.html`` at 1400x1000 and at 1280x720 and follows
each reader's path from the landing view: the FaceNet file (one click on the landing
view's link opens the keras212 -> tf221 answer for Lambda layers in ``.h5``) and the
upgrade (one click on the tf215 -> tf221 example). Each ends in a PNG in
``reports/screenshots/``; the 1280x720 FaceNet one is also copied to ``reports/matrix-facenet.png`` for the
README. The browser test follows the same paths (``facenet_path``, ``upgrade_path``).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from compat.paths import PROJECT_ROOT

SIZES = ((1400, 1000), (1280, 720))
PAGE = PROJECT_ROOT / "reports" / "matrix.html"
OUT = PROJECT_ROOT / "reports" / "screenshots"
README_SHOT = PROJECT_ROOT / "reports" / "matrix-facenet.png"
README_SOURCE = "facenet-1280x720.png"


def set_viewport(driver, width: int, height: int) -> None:
    """The page's viewport exactly this size (a window size would include the browser's frame)."""
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
    )


def _wait(driver, condition, seconds: float = 10):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, seconds, poll_frequency=0.05).until(condition)  # the default polls every 0.5 s


def facenet_path(driver, page: Path):
    """Landing view, then one click on the FaceNet link: returns the open panel."""
    from selenium.webdriver.common.by import By

    driver.get(page.resolve().as_uri())
    driver.find_element(By.ID, "go-facenet").click()
    dialog = driver.find_element(By.ID, "detail")
    _wait(driver, lambda d: dialog.get_attribute("open") is not None)
    return dialog


def upgrade_path(driver, page: Path, old: str | None = None, new: str | None = None):
    """Landing view, then the upgrade: the example link, or ``old`` and ``new`` (both given) picked and shown.

    Returns the upgrade section once it shows the pair.
    """
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    driver.get(page.resolve().as_uri())
    if old is None or new is None:
        driver.find_element(By.ID, "go-upgrade").click()
    else:
        Select(driver.find_element(By.ID, "upgrade-from")).select_by_value(old)
        Select(driver.find_element(By.ID, "upgrade-to")).select_by_value(new)
        driver.find_element(By.CSS_SELECTOR, "#upgrade-form button[type=submit]").click()
    section = driver.find_element(By.ID, "upgrade")
    _wait(driver, lambda d: section.is_displayed())
    return section


def take(page: Path = PAGE, out: Path = OUT, readme: Path | None = README_SHOT) -> list[Path]:
    from compat.devtools import browser

    if browser.missing():
        raise SystemExit(f"compat.devtools.screenshots: {browser.missing()}")
    out.mkdir(parents=True, exist_ok=True)
    written = []
    with tempfile.TemporaryDirectory(prefix="compat-screenshots-") as scratch:
        driver = browser.start(Path(scratch) / "profile")
        try:
            for width, height in SIZES:
                set_viewport(driver, width, height)
                for name, follow in (("facenet", facenet_path), ("upgrade", upgrade_path)):
                    follow(driver, page)
                    path = out / f"{name}-{width}x{height}.png"
                    driver.save_screenshot(str(path))
                    written.append(path)
        finally:
            driver.quit()
    if readme is not None:
        readme.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(out / README_SOURCE, readme)
        written.append(readme)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m compat.devtools.screenshots", description=__doc__.splitlines()[0])
    parser.add_argument("--page", default=str(PAGE), help="the report page to open")
    parser.add_argument("--out", default=str(OUT), help="folder for the PNG files")
    parser.add_argument(
        "--no-readme", action="store_true", help=f"do not update {README_SHOT.relative_to(PROJECT_ROOT)}"
    )
    args = parser.parse_args(argv)
    page = Path(args.page)
    if not page.is_file():
        print(
            f"compat.devtools.screenshots: error: {page}: no such page (python3 -m compat report writes it)",
            file=sys.stderr,
        )
        return 2
    for path in take(page, Path(args.out), None if args.no_readme else README_SHOT):
        print(f"{path} ({path.stat().st_size // 1024} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
