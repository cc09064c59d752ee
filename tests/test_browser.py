"""The report as a person uses it: headless Chromium filters the matrix, opens a cell and
reads a recipe. The cell texts the page's script computes must equal ``compat.cells``'s.
"""
from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import pytest

from compat import cli, browser, cells, report

pytestmark = pytest.mark.browser

DATA = Path(__file__).resolve().parent / "data" / "results"
SCREENSHOTS = Path(__file__).resolve().parent.parent / "reports" / "screenshots"

if browser.missing():
    pytest.skip(browser.missing(), allow_module_level=True)
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402


@pytest.fixture
def driver(tmp_path):
    started = browser.start(tmp_path / "profile")
    yield started
    started.quit()


def _render(results: Path, out: Path) -> dict:
    assert cli.invoke(report.main, argparse.Namespace(results=str(results), from_json=None, out=str(out))) == 0
    return report.read_matrix(out / "matrix.json")


def _console_errors(driver) -> list:
    return [entry for entry in driver.get_log("browser") if entry["level"] in ("SEVERE", "ERROR")]


def _counts(driver) -> dict[str, int]:
    return {c: int(driver.find_element(By.CSS_SELECTOR, f'[data-count="{c}"]').text) for c in cells.CATEGORIES}


def _cell_texts(driver) -> list[tuple[str, str, str, str]]:
    found = []
    for button in driver.find_elements(By.CSS_SELECTOR, "#matrix button.cell"):
        found.append((button.find_element(By.CLASS_NAME, "best").text, button.find_element(By.CLASS_NAME, "count").text,
                      button.get_attribute("class"), button.get_attribute("aria-label")))
    return found


def _expected_cells(matrix: dict, variant=None, fmt=None) -> list[tuple[str, str, str, str]]:
    """What compat.cells says every cell shows: the page's script must agree."""
    producers, consumers = report.shown_environments(matrix)
    rows = cells.grid(matrix, producers, consumers, variant, fmt)
    return [(c["best"], c["count"], f"cell cat-{c['category']}" + (f" flag-{c['flag']}" if c["flag"] else ""),
             c["label"]) for row in rows for c in row["cells"]]


def test_filter_open_a_cell_and_copy_a_recipe(driver, tmp_path):
    out = tmp_path / "report"
    matrix = _render(DATA, out)
    found = cells.outcomes(matrix)
    driver.get((out / "matrix.html").as_uri())
    assert _counts(driver) == cells.totals(found)
    assert _cell_texts(driver) == _expected_cells(matrix)

    Select(driver.find_element(By.ID, "filter-variant")).select_by_value("lambda")
    Select(driver.find_element(By.ID, "filter-format")).select_by_value("h5")
    expected = cells.totals(found, "lambda", "h5")
    assert _counts(driver) == expected and expected != cells.totals(found)
    assert _cell_texts(driver) == _expected_cells(matrix, "lambda", "h5")
    assert driver.find_element(By.ID, "filter-note").text == "lambda + h5: 5 fixture loads"
    assert "active" in driver.find_element(By.ID, "filter-facenet").get_attribute("class")
    assert driver.execute_script("return location.hash") == "#variant=lambda&format=h5"

    # Keyboard: the cell tf221 x keras212 is a focusable button that Enter opens.
    cell = driver.find_element(By.CSS_SELECTOR, '#matrix button.cell[data-p="0"][data-c="2"]')
    cell.send_keys(Keys.ENTER)
    dialog = driver.find_element(By.ID, "detail")
    WebDriverWait(driver, 5).until(lambda d: dialog.get_attribute("open") is not None)
    assert driver.find_element(By.ID, "detail-title").text == "tf221 loading models saved by keras212"
    fixtures = dialog.find_elements(By.CSS_SELECTOR, "section.fixture")
    assert [f.find_element(By.TAG_NAME, "code").text for f in fixtures] == ["lambda-h5"]
    strategies = [row.find_element(By.TAG_NAME, "th").text
                  for row in dialog.find_elements(By.CSS_SELECTOR, "table.attempts tbody tr")]
    assert strategies == [s["name"] for s in matrix["strategies"]]
    recipe = dialog.find_element(By.CSS_SELECTOR, ".recipe pre").text
    wanted = next(a["recipe"] for a in matrix["attempts"]
                  if (a["consumer"], a["producer"], a["fixture"], a["strategy"]) ==
                  ("tf221", "keras212", "lambda-h5", "rebuild_weights"))
    assert recipe == wanted
    copy = dialog.find_element(By.CSS_SELECTOR, ".recipe button.copy")
    copy.click()
    WebDriverWait(driver, 5).until(lambda d: copy.text != "Copy")
    driver.save_screenshot(str(tmp_path / "detail.png"))
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(tmp_path / "detail.png", SCREENSHOTS / "matrix-detail.png")
    dialog.send_keys(Keys.ESCAPE)
    WebDriverWait(driver, 5).until(lambda d: dialog.get_attribute("open") is None)
    assert driver.switch_to.active_element == cell

    # The wrong-numbers cell says so, with its own panel.
    wrong = driver.find_element(By.CSS_SELECTOR, '#matrix button.cell[data-p="0"][data-c="0"]')
    assert "flag-wrong" in wrong.get_attribute("class") and wrong.find_element(By.CLASS_NAME, "flag").text == "\u26a0"
    wrong.click()
    WebDriverWait(driver, 5).until(lambda d: dialog.get_attribute("open") is not None)
    assert "WRONG NUMBERS" in dialog.text and dialog.find_elements(By.CSS_SELECTOR, ".recipe") == []
    driver.find_element(By.ID, "detail-close").click()

    # Every other filter: the script's cells and counts equal compat.cells's.
    for variant, fmt in (("", "json"), ("canary", ""), ("builtin", "json"), ("lambda", "")):
        Select(driver.find_element(By.ID, "filter-variant")).select_by_value(variant)
        Select(driver.find_element(By.ID, "filter-format")).select_by_value(fmt)
        assert _counts(driver) == cells.totals(found, variant, fmt)
        assert _cell_texts(driver) == _expected_cells(matrix, variant, fmt)

    driver.find_element(By.ID, "filter-reset").click()
    assert _counts(driver) == cells.totals(found)
    assert _cell_texts(driver) == _expected_cells(matrix)
    driver.save_screenshot(str(SCREENSHOTS / "matrix.png"))
    assert _console_errors(driver) == []


def test_a_full_size_matrix_opens_and_filters(driver, tmp_path):
    # How fast it opens is the bench's to measure (python -m compat.bench --only page).
    from test_report import synthesize_full
    synthesize_full(tmp_path / "results")
    out = tmp_path / "report"
    _render(tmp_path / "results", out)
    driver.get((out / "matrix.html").as_uri())
    driver.find_element(By.ID, "filter-facenet").click()
    assert len(driver.find_elements(By.CSS_SELECTOR, "#matrix button.cell")) == 17 * 17
    assert _console_errors(driver) == []
