"""The report as a person uses it, in headless Chromium.

On a page rendered from the test data: filters, cells, panels and their links show what
``compat.publish.cells`` says (the page's script only lays out what Python decided). On the
committed ``reports/matrix.html``: the two readers' paths, the FaceNet file and the
upgrade, end at the right answer in at most two interactions, and the upgrade view equals
``compat regress --baseline reports/matrix.json`` fixture by fixture.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from compat import catalog, cli
from compat.devtools import browser, screenshots
from compat.publish import cells, report
from compat.records import summary
from tests import canned_upgrade

pytestmark = pytest.mark.browser

DATA = Path(__file__).resolve().parents[1] / "data" / "results"
PUBLISHED = Path(__file__).resolve().parents[2] / "reports"

if browser.missing():
    pytest.skip(browser.missing(), allow_module_level=True)
# After the skip: without selenium or Chromium the module is skipped with the reason, not an error.
from selenium.common.exceptions import TimeoutException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402


@pytest.fixture(scope="module")
def chromium(tmp_path_factory):
    # One browser for the module: starting one takes a second or two.
    started = browser.start(tmp_path_factory.mktemp("profile"))
    yield started
    started.quit()


@pytest.fixture
def driver(chromium):
    """The module's browser as a fresh one would be: blank, default viewport, no console lines."""
    chromium.get("about:blank")
    chromium.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    chromium.get_log("browser")
    return chromium


def _render(results: Path, out: Path) -> dict:
    assert cli.main(["report", "--results", str(results), "--out", str(out)]) == 0
    return report.read_matrix(out / "matrix.json")


def _console_errors(driver) -> list:
    return [entry for entry in driver.get_log("browser") if entry["level"] in ("SEVERE", "ERROR")]


def _counts(driver) -> dict[str, int]:
    return {c: int(driver.find_element(By.CSS_SELECTOR, f'[data-count="{c}"]').text) for c in cells.CATEGORIES}


def _cell_texts(driver) -> list[tuple]:
    return [
        tuple(row)
        for row in driver.execute_script("""
        return Array.from(document.querySelectorAll('#matrix button.cell')).map(b => [
          b.querySelector('.mark').textContent, b.querySelector('.best').textContent,
          b.querySelector('.count').textContent, b.className, b.getAttribute('aria-label'), b.title]);""")
    ]


def _expected_cells(matrix: dict, variant=None, fmt=None) -> list[tuple]:
    """What compat.publish.cells says every cell shows: the page must show exactly that."""
    producers, consumers = report.shown_environments(matrix)
    rows = cells.grid(matrix, producers, consumers, variant, fmt)
    return [
        (
            c["mark"],
            c["short"],
            c["count"],
            f"cell cat-{c['category']}" + (f" flag-{c['flag']}" if c["flag"] else ""),
            c["label"],
            c["best"],
        )
        for row in rows
        for c in row["cells"]
    ]


def _heads(driver) -> list[str]:
    return [node.text for node in driver.find_elements(By.CSS_SELECTOR, "#matrix [data-head]")]


def _open(driver, dialog) -> None:
    WebDriverWait(driver, 5, poll_frequency=0.05).until(lambda d: dialog.get_attribute("open") is not None)


def _hash_becomes(driver, expected: str) -> None:
    try:
        WebDriverWait(driver, 5, poll_frequency=0.05).until(
            lambda d: d.execute_script("return location.hash") == expected
        )
    except TimeoutException:
        assert driver.execute_script("return location.hash") == expected


def _closed(driver, dialog) -> None:
    WebDriverWait(driver, 5, poll_frequency=0.05).until(lambda d: dialog.get_attribute("open") is None)


def _recipe(matrix: dict, consumer: str, producer: str, fixture: str, strategy: str) -> str:
    return next(
        a["recipe"]
        for a in matrix["attempts"]
        if (a["consumer"], a["producer"], a["fixture"], a["strategy"]) == (consumer, producer, fixture, strategy)
    )


def _in_view(driver, element) -> bool:
    """Whole inside the window and inside every scrolled box around it."""
    return driver.execute_script(
        """
        const r = arguments[0].getBoundingClientRect();
        if (r.top < 0 || r.left < 0 || r.bottom > innerHeight || r.right > innerWidth) return false;
        for (let box = arguments[0].parentElement; box; box = box.parentElement) {
          const b = box.getBoundingClientRect();
          if (getComputedStyle(box).overflowY !== 'visible' && (r.top < b.top || r.bottom > b.bottom)) return false;
        }
        return true;""",
        element,
    )


def test_filters_cells_and_panels_show_what_python_decided(driver, tmp_path):
    out = tmp_path / "report"
    matrix = _render(DATA, out)
    found = cells.outcomes(matrix)
    _, consumers = report.shown_environments(matrix)
    page = (out / "matrix.html").as_uri()
    driver.get(page)
    assert _counts(driver) == cells.totals(found)
    assert _cell_texts(driver) == _expected_cells(matrix)
    assert _heads(driver) == [h["rate"] for h in cells.column_heads(found, consumers)]

    Select(driver.find_element(By.ID, "filter-variant")).select_by_value("lambda")
    Select(driver.find_element(By.ID, "filter-format")).select_by_value("h5")
    expected = cells.totals(found, "lambda", "h5")
    assert _counts(driver) == expected and expected != cells.totals(found)
    assert _cell_texts(driver) == _expected_cells(matrix, "lambda", "h5")
    assert _heads(driver) == [h["rate"] for h in cells.column_heads(found, consumers, "lambda", "h5")]
    assert driver.find_element(By.ID, "filter-note").text == "lambda + h5: 5 fixture loads"
    assert "active" in driver.find_element(By.ID, "filter-facenet").get_attribute("class")
    _hash_becomes(driver, "#variant=lambda&format=h5")

    # Keyboard: one cell is in the tab order, arrow keys move, Enter opens.
    first = driver.find_element(By.CSS_SELECTOR, '#matrix button.cell[data-p="0"][data-c="0"]')
    first.send_keys(Keys.ARROW_RIGHT)
    driver.switch_to.active_element.send_keys(Keys.ARROW_RIGHT)
    cell = driver.find_element(By.CSS_SELECTOR, '#matrix button.cell[data-p="0"][data-c="2"]')
    assert driver.switch_to.active_element == cell and cell.get_attribute("tabindex") == "0"
    cell.send_keys(Keys.ENTER)
    dialog = driver.find_element(By.ID, "detail")
    _open(driver, dialog)
    _hash_becomes(driver, "#variant=lambda&format=h5&cell=keras212,tf221")
    assert driver.find_element(By.ID, "detail-title").text == "tf221 loading models saved by keras212"
    fixtures = dialog.find_elements(By.CSS_SELECTOR, "section.fixture")
    assert [f.get_attribute("data-fixture") for f in fixtures] == ["lambda-h5"]
    strategies = [
        row.get_attribute("data-strategy") for row in dialog.find_elements(By.CSS_SELECTOR, "table.attempts tbody tr")
    ]
    assert strategies == summary.strategy_order(matrix["strategies"])  # in the order a reader is advised them
    # The answer first: the strategy to use and its recipe, then why the simpler ones fail, by family.
    answer = dialog.find_element(By.CSS_SELECTOR, "section.fixture .answer")
    assert answer.find_element(By.CSS_SELECTOR, ".recipe-head span").text == "Load it with rebuild_weights:"
    assert answer.find_element(By.TAG_NAME, "pre").text == _recipe(
        matrix, "tf221", "keras212", "lambda-h5", "rebuild_weights"
    )
    assert "Lambda refused by safe_mode" in dialog.find_element(By.CSS_SELECTOR, ".why").text
    load_model = dialog.find_element(By.CSS_SELECTOR, 'table.attempts tr[data-strategy="load_model"]')
    assert "Lambda refused by safe_mode" in load_model.find_element(By.CSS_SELECTOR, ".family").text
    assert "Requested the deserialization of a `Lambda` layer" in load_model.text
    copy = answer.find_element(By.CSS_SELECTOR, "button.copy")
    copy.click()
    WebDriverWait(driver, 5, poll_frequency=0.05).until(lambda d: copy.text != "Copy")
    dialog.send_keys(Keys.ESCAPE)
    _closed(driver, dialog)
    assert driver.switch_to.active_element == cell
    # The page rewrites the address from the dialog's close event, which may run just after the
    # dialog shows closed: wait for it (a page that never drops the cell still fails here).
    _hash_becomes(driver, "#variant=lambda&format=h5")

    # A link to a panel opens it; an unclassified error says so beside its raw message.
    driver.get(page + "#cell=tf221,tf221")
    _open(driver, dialog)
    assert len(dialog.find_elements(By.CSS_SELECTOR, "section.fixture")) == 4
    assert dialog.find_elements(By.CSS_SELECTOR, "table.fixtures-summary tbody tr")
    unknown = dialog.find_elements(By.CSS_SELECTOR, ".family.unknown")
    assert unknown and all(u.get_attribute("textContent").startswith("no known failure family") for u in unknown)
    # ...and a panel opens at its top, whatever was scrolled before.
    driver.execute_script("arguments[0].scrollTop = 800", dialog)
    driver.find_element(By.ID, "detail-close").click()
    _closed(driver, dialog)
    driver.find_element(By.CSS_SELECTOR, '#matrix button.cell[data-p="0"][data-c="1"]').click()
    _open(driver, dialog)
    assert driver.execute_script("return arguments[0].scrollTop", dialog) == 0
    driver.find_element(By.ID, "detail-close").click()

    # The wrong-numbers cell says so, with its own panel.
    driver.get(page + "#variant=lambda&format=h5")
    wrong = driver.find_element(By.CSS_SELECTOR, '#matrix button.cell[data-p="0"][data-c="0"]')
    assert "flag-wrong" in wrong.get_attribute("class") and wrong.find_element(By.CLASS_NAME, "flag").text == "\u26a0"
    wrong.click()
    _open(driver, dialog)
    assert "WRONG NUMBERS" in dialog.text and dialog.find_elements(By.CSS_SELECTOR, ".answer .recipe") == []
    driver.find_element(By.ID, "detail-close").click()

    # Every other filter: the page shows what compat.publish.cells says.
    for variant, fmt in (("", "json"), ("canary", ""), ("builtin", "json"), ("lambda", "")):
        Select(driver.find_element(By.ID, "filter-variant")).select_by_value(variant)
        Select(driver.find_element(By.ID, "filter-format")).select_by_value(fmt)
        assert _counts(driver) == cells.totals(found, variant, fmt)
        assert _cell_texts(driver) == _expected_cells(matrix, variant, fmt)

    driver.find_element(By.ID, "filter-reset").click()
    assert _counts(driver) == cells.totals(found)
    assert _cell_texts(driver) == _expected_cells(matrix)
    assert _console_errors(driver) == []


def test_a_full_size_matrix_opens_and_filters(driver, full_size_report):
    # How fast it opens is the bench's to measure (python -m compat.devtools.bench --only page).
    out, _ = full_size_report
    driver.get((out / "matrix.html").as_uri())
    driver.find_element(By.ID, "filter-facenet").click()
    assert len(driver.find_elements(By.CSS_SELECTOR, "#matrix button.cell")) == len(catalog.ids()) ** 2
    assert _console_errors(driver) == []


# -- the committed page ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def published() -> dict:
    return report.read_matrix(PUBLISHED / "matrix.json")


@pytest.mark.parametrize("width, height", screenshots.SIZES)
def test_facenet_file_is_one_click_from_the_landing_view(driver, published, width, height):
    screenshots.set_viewport(driver, width, height)
    page = PUBLISHED / "matrix.html"
    recipe = _recipe(published, "tf221", "keras212", "lambda-h5", "rebuild_weights")

    def check_answer(dialog):
        assert driver.find_element(By.ID, "detail-title").text == "tf221 loading models saved by keras212"
        assert [f.get_attribute("data-fixture") for f in dialog.find_elements(By.CSS_SELECTOR, "section.fixture")] == [
            "lambda-h5"
        ]
        answer = dialog.find_element(By.CSS_SELECTOR, "section.fixture .answer")
        assert answer.find_element(By.CSS_SELECTOR, ".recipe-head span").text == "Load it with rebuild_weights:"
        code = answer.find_element(By.TAG_NAME, "pre")
        assert code.text == recipe
        assert _in_view(driver, code), "the recipe is not visible at the panel's top"

    # One interaction: the landing view's link.
    dialog = screenshots.facenet_path(driver, page)
    check_answer(dialog)
    _hash_becomes(driver, "#variant=lambda&format=h5&cell=keras212,tf221")
    # Two: the FaceNet filter, then the cell, reachable without scrolling sideways.
    driver.get(page.resolve().as_uri())
    assert driver.execute_script("return document.documentElement.scrollWidth <= innerWidth")
    driver.find_element(By.ID, "filter-facenet").click()
    cell = driver.find_element(By.CSS_SELECTOR, '#matrix button.cell[data-p="0"][data-c="14"]')
    assert cell.get_attribute("aria-label").startswith("tf221 loading models made by keras212: with the model's code")
    assert driver.execute_script("const r = arguments[0].getBoundingClientRect(); return r.right <= innerWidth", cell)
    cell.click()
    dialog = driver.find_element(By.ID, "detail")
    _open(driver, dialog)
    check_answer(dialog)
    assert _console_errors(driver) == []


def _page_upgrade(driver) -> dict:
    rows = driver.execute_script("""
        return Array.from(document.querySelectorAll('#upgrade-body tr[data-fixture]')).map(tr => ({
          producer: tr.dataset.producer, fixture: tr.dataset.fixture, change: tr.dataset.change,
          bucket: tr.dataset.bucket, old_best: tr.dataset.oldBest || null, new_best: tr.dataset.newBest || null,
          recipe: tr.querySelector('.recipe pre') ? tr.querySelector('.recipe pre').textContent : null}));""")
    return {(r["producer"], r["fixture"]): r for r in rows}


def test_the_upgrade_view_shows_the_hand_derived_changes(driver, tmp_path):
    """On a page of the canned matrix, each pair's rows are what tests/canned_upgrade.py worked
    out by hand, and a switch shows the recipe of the strategy to switch to."""
    out = tmp_path / "report"
    matrix = _render(canned_upgrade.write(tmp_path / "results"), out)
    screenshots.set_viewport(driver, 1280, 720)
    for old, new in canned_upgrade.EXPECTED:
        section = screenshots.upgrade_path(driver, out / "matrix.html", old, new)
        _hash_becomes(driver, f"#upgrade={old},{new}")
        assert _in_view(driver, driver.find_element(By.ID, "upgrade-title"))
        expected = canned_upgrade.page_rows(old, new)
        shown = _page_upgrade(driver)
        assert {key: (r["change"], r["old_best"], r["new_best"], r["bucket"]) for key, r in shown.items()} == expected
        for key, row in shown.items():
            if row["bucket"] == "switch":
                assert row["recipe"] == _recipe(matrix, new, *key, expected[key][2])
        regressed = sum(want[0] in canned_upgrade.REGRESSIONS for want in expected.values())
        compared = sum(want[0] != "not_compared" for want in expected.values())
        summary = section.find_element(By.CSS_SELECTOR, ".upgrade-summary b").text
        assert summary.startswith(f"{compared} fixtures compared, {regressed} regressed")
        assert f"compat regress --baseline reports/matrix.json --from {old} --to {new}" in section.text
    assert _console_errors(driver) == []


def test_the_published_pages_upgrade_example_is_one_click_away(driver):
    page = PUBLISHED / "matrix.html"
    screenshots.set_viewport(driver, 1280, 720)
    section = screenshots.upgrade_path(driver, page)
    _hash_becomes(driver, "#upgrade=tf215,tf221")
    assert _in_view(driver, driver.find_element(By.ID, "upgrade-title"))
    assert _page_upgrade(driver), "the example pair shows no fixture"
    assert "compat regress --baseline reports/matrix.json --from tf215 --to tf221" in section.text
    assert _console_errors(driver) == []
