"""What the published advisories say a default ``load_model`` does with code a file stores or
names, against what the canary fixtures measured.

The advisories (see the security table in the reference notes) are about a plain
``load_model`` call, with ``safe_mode`` left at its default. For each consumer and canary
fixture this module derives what they predict (the stored Lambda runs, or is refused) and
reads what the matrix measured for the ``load_model`` strategy on every producer's canaries
(``canary-h5`` and ``canary-keras`` store a Lambda's bytecode; ``canarymodule-keras`` is a
Keras 3 file whose config names a module function, as a crafted file would):

- ``ran at load`` / ``ran at first call``: the file's own code ran (the marker appeared
  by the end of loading, or only once the model was called);
- ``refused``: the plain load did not run it although another strategy of the same Keras
  did, or that Keras loads the same producer's file that hands the function over instead
  of naming it (so the code could run there: the refusal is the loader's doing);
- ``unreachable``: no strategy of that Keras ran it (bytecode of another Python, a file
  that Keras cannot read at all), so that file says nothing about the advisory.

A row agrees when every reachable file behaved as predicted. Disagreements are shown as
they are: they are findings about the advisories' version ranges, not harness errors.
"""

from __future__ import annotations

import dataclasses
import re

from packaging.version import Version

from compat.publish import cells
from compat.records import strategyinfo

DEFAULT_STRATEGY = "load_model"
FIXTURES = ("canary-h5", "canary-keras", "canarymodule-keras")
CONTROLS = {"canarymodule-keras": "canary-keras"}
REFUSAL_LIMIT = 160


def _reads_and_hands_over(name: str) -> bool:
    return strategyinfo.reads_config(name) and strategyinfo.hands_over(name) and not strategyinfo.legacy_keras(name)


@dataclasses.dataclass(frozen=True)
class Prediction:
    runs: bool
    advisory: str
    basis: str


def keras_version(text: str | None) -> Version | None:
    """``2.2.4-tf`` (tf.keras in TF 1.15) and the like, reduced to their release number."""
    found = re.match(r"\d+(\.\d+)*", text or "")
    return Version(found.group(0)) if found else None


def predict(version: Version, fixture: str) -> Prediction | None:
    """What the advisories say a default ``load_model`` of this canary does in this Keras."""
    keras2 = version.major < 3
    if fixture == "canary-h5":
        if keras2 and version < Version("2.13"):
            return Prediction(True, "CVE-2024-3660", "Keras < 2.13 runs Lambda bytecode on load")
        if keras2:
            return Prediction(
                True, "CVE-2024-3660", "Keras 2.13+ apply safe_mode to .keras only, so an .h5 Lambda still runs"
            )
        if version < Version("3.11.3"):
            return Prediction(True, "CVE-2025-9905", "Keras 3.0 to 3.11.2 ignore safe_mode for legacy .h5")
        return Prediction(False, "CVE-2025-9905", "Keras 3.11.3+ honour safe_mode for legacy .h5")
    if fixture == "canary-keras":
        if keras2 and version < Version("2.12"):
            return None  # no .keras format to read
        if keras2 and version < Version("2.13"):
            return Prediction(True, "CVE-2024-3660", "affected: Keras < 2.13")
        if keras2:
            return Prediction(False, "CVE-2024-3660", "Keras 2.13+ apply safe_mode to .keras")
        return Prediction(False, "safe_mode", "Keras 3 refuses Lambda bytecode in .keras under safe_mode")
    if fixture == "canarymodule-keras" and not keras2:
        if version < Version("3.9"):
            return Prediction(True, "CVE-2025-1550", "Keras 3.0 to 3.8 import any module a .keras config names")
        return Prediction(False, "CVE-2025-1550", "Keras 3.9+ import only allow-listed modules")
    return None


def _ran(attempt: dict) -> bool:
    return cells.code_ran_when(attempt) != "no"


def _loaded(attempt: dict | None) -> bool:
    return attempt is not None and attempt.get("verdict") in ("pass", "mismatch")


def file_outcome(by_strategy: dict[str, dict], control: dict[str, dict] | None = None) -> tuple[str, str]:
    """(outcome, detail) of a default load of one canary file in one consumer.

    ``control`` is the producer's file that differs only in handing the function over
    (``canary-keras`` for ``canarymodule-keras``): if this Keras loads it, the canary is
    readable and only the function it names stood in the way.
    """
    default = by_strategy.get(DEFAULT_STRATEGY)
    if default is None or default.get("verdict") == "not_applicable":
        return "unreachable", "plain load_model was not tried"
    when = cells.code_ran_when(default)
    if when != "no":
        return {"load": "ran at load", "call": "ran at first call"}[when], ""
    # A Keras 3 consumer also carries tf_keras: another library, so it cannot show what the
    # consumer's own Keras would run.
    same_library = [a for name, a in by_strategy.items() if not strategyinfo.legacy_keras(name)]
    # Loads of the control that read its config and are handed the function: what shows the
    # file is readable. Weights-level strategies never read the config, so they cannot.
    control_loaded = any(_loaded(attempt) for name, attempt in (control or {}).items() if _reads_and_hands_over(name))
    error = default.get("error") or {}
    detail = f"{error.get('type', '')}: {error.get('message', '')}".strip(": ") or default.get("verdict", "")
    if any(_ran(a) for a in same_library) or control_loaded:
        return "refused", detail
    return "unreachable", detail


@dataclasses.dataclass
class Row:
    consumer: str
    keras: str
    fixture: str
    prediction: Prediction
    files: dict[str, list[str]]  # outcome -> producers
    details: dict[str, str]  # producer -> the default load's error, when it did not run

    @property
    def ran(self) -> int:
        return len(self.files.get("ran at load", [])) + len(self.files.get("ran at first call", []))

    @property
    def refused(self) -> int:
        return len(self.files.get("refused", []))

    @property
    def verdict(self) -> str:
        if not self.ran and not self.refused:
            return "not measurable"
        wrong = self.refused if self.prediction.runs else self.ran
        return "disagrees" if wrong else "agrees"


def compare(matrix: dict, consumers: list[str]) -> list[Row]:
    """One row per consumer and canary fixture with a prediction and a measurement."""
    by_id = {entry["id"]: entry for entry in matrix["catalog"]}
    grouped: dict[tuple[str, str], dict[str, dict[str, dict]]] = {}
    for attempt in matrix["attempts"]:
        if attempt.get("fixture") in FIXTURES or attempt.get("fixture") in CONTROLS.values():
            key = (attempt["consumer"], attempt["fixture"])
            grouped.setdefault(key, {}).setdefault(attempt["producer"], {})[attempt["strategy"]] = attempt
    rows = []
    for consumer in consumers:
        keras = ((by_id.get(consumer) or {}).get("versions") or {}).get("keras")
        version = keras_version(keras)
        for fixture in FIXTURES:
            files = grouped.get((consumer, fixture))
            # No version read off the catalog (so no keras text either) or no file: nothing to predict.
            if keras is None or version is None or not files:
                continue
            prediction = predict(version, fixture)
            if prediction is None:
                continue
            outcomes: dict[str, list[str]] = {}
            details = {}
            for producer in sorted(files):
                control = grouped.get((consumer, CONTROLS.get(fixture, "")), {}).get(producer)
                outcome, detail = file_outcome(files[producer], control)
                outcomes.setdefault(outcome, []).append(producer)
                if detail:
                    details[producer] = detail
            rows.append(Row(consumer, keras, fixture, prediction, outcomes, details))
    return rows


def view(rows: list[Row]) -> list[dict]:
    """What the report prints per row."""
    shown = []
    for row in rows:
        parts = [f"{outcome} {len(producers)}" for outcome, producers in sorted(row.files.items())]
        titles = [f"{outcome}: {', '.join(producers)}" for outcome, producers in sorted(row.files.items())]
        refusal = cells.first_line(
            next((row.details[p] for p in row.files.get("refused", []) if p in row.details), ""), REFUSAL_LIMIT
        )
        shown.append(
            {
                "consumer": row.consumer,
                "keras": row.keras,
                "fixture": row.fixture,
                "advisory": row.prediction.advisory,
                "basis": row.prediction.basis,
                "expected": "runs" if row.prediction.runs else "refused",
                "measured": ", ".join(parts),
                "title": "; ".join(titles),
                "refusal": refusal,
                "verdict": row.verdict,
            }
        )
    return shown
