"""How far translate carries FaceNet without its architecture code, read off the published matrix.

The measure: among the Keras 3 consumers' cells where rebuilding FaceNet in code and loading the
weights (``rebuild_weights``) passes, the share where ``translate`` passes too. Set aside are the
cells translate is not for without the user's code: Lambda layers whose function the file holds
only as bytecode (which translate never runs) or names by module, which translate takes from
``--function``; and weights-only files, which store no
architecture (translate takes it from ``--architecture``). Every other cell where translate fails
is counted by its failure family (``compat.records.families``), so an unexplained failure shows as
such.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from compat import catalog
from compat.records import families, matrixdoc

TARGET = 0.90
REBUILD = "rebuild_weights"
TRANSLATE = "translate"
SET_ASIDE = "lambda_needs_function"
WEIGHTS_ONLY = ("h5_weights", "weights_h5")


def keras3_consumers() -> set[str]:
    found = set()
    for env in catalog.consumers():
        version = env.locked_versions().get("keras", "")
        if env.keras_api == "keras" and version[:1].isdigit() and int(version.split(".")[0]) >= 3:
            found.add(env.id)
    return found


def measure(matrix: dict) -> dict:
    """The share, the cells set aside and each failing cell's family, from an expanded or compact matrix."""
    document = matrixdoc.expand(matrix) if "loads" in matrix else matrix
    consumers = keras3_consumers()
    cells: dict[tuple, dict] = {}
    for attempt in document["attempts"]:
        if attempt["consumer"] in consumers and attempt["strategy"] in (REBUILD, TRANSLATE):
            key = (attempt["consumer"], attempt["producer"], attempt["fixture"])
            cells.setdefault(key, {})[attempt["strategy"]] = attempt
    passed = aside = weights_only = 0
    failures: Counter = Counter()
    for found in cells.values():
        rebuild, translate = found.get(REBUILD), found.get(TRANSLATE)
        if rebuild is None or rebuild["verdict"] != "pass" or translate is None:
            continue
        if translate["verdict"] == "pass":
            passed += 1
            continue
        if translate["verdict"] == "not_applicable" and translate["format"] in WEIGHTS_ONLY:
            weights_only += 1
            continue
        family = families.classify_attempt(document, translate) if translate["verdict"] == "error" else None
        name = family.id if family else f"{translate['verdict']}: unexplained"
        if name == SET_ASIDE:
            aside += 1
        else:
            failures[name] += 1
    counted = passed + sum(failures.values())
    return {
        "consumers": sorted(consumers),
        "rebuild_passes": counted + aside + weights_only,
        "set_aside": aside,
        "weights_only": weights_only,
        "counted": counted,
        "translate_passes": passed,
        "share": round(passed / counted, 4) if counted else None,
        "target": TARGET,
        "failures": dict(failures.most_common()),
    }


def line(measured: dict) -> str:
    share = measured["share"]
    verdict = "meets" if share is not None and share >= TARGET else "misses"
    failures = ", ".join(f"{name} {n}" for name, n in measured["failures"].items()) or "none"
    return (
        f"translate: {measured['translate_passes']} of {measured['counted']} Keras 3 cells where "
        f"{REBUILD} passes ({(share or 0) * 100:.1f}%, target {TARGET * 100:.0f}%: {verdict}); "
        f"set aside: {measured['set_aside']} Lambda cells (their function must come from the user, --function) "
        f"and {measured.get('weights_only', 0)} weights-only cells (the architecture must, --architecture); "
        f"failures by family: {failures}"
    )


def run(matrix_path: Path) -> dict:
    return measure(json.loads(Path(matrix_path).read_text()))
