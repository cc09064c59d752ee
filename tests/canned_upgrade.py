"""A small canned matrix and the upgrade view of it, derived by hand.

Two consumers' results (tf215 and tf221, from tests/data/results) cut down to five fixtures,
with every verdict set here: a strategy listed passes (or, in MISMATCH, loads wrong numbers),
every other attempt of those fixtures is an error. The expected changes below were worked
out from the rules the README gives (the best strategy is the first that passes in the
registry's order; a change is judged on the old consumer's best), not by running
``compat.harness.regress``, so the page and ``compat regress`` are each checked against them.
"""

from __future__ import annotations

import json
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data" / "results"
SOURCES = {"tf215": "tf215-load-keras212.json", "tf221": "tf221-load-keras212+tf215+tf221.json"}

# consumer -> (producer, fixture) -> strategies that pass
PASSING = {
    "tf215": {
        ("keras212", "builtin-h5"): {"load_model", "rebuild_weights"},
        ("keras212", "lambda-h5"): {"load_model", "rebuild_weights"},
        ("keras212", "canary-h5"): {"unsafe"},
        ("keras212", "lambda-json"): set(),
    },
    "tf221": {
        ("keras212", "builtin-h5"): {"load_model", "rebuild_weights"},
        ("keras212", "lambda-h5"): {"rebuild_weights"},
        ("keras212", "canary-h5"): set(),
        ("keras212", "lambda-json"): {"json_weights"},
        ("tf215", "builtin-h5"): {"load_model"},
    },
}
MISMATCH = {"tf221": {("keras212", "canary-h5"): {"unsafe"}}}

# The changes that are regressions: a file stops loading, needs another strategy, or loads wrong numbers.
REGRESSIONS = ("stopped_working", "switch_strategy", "numbers_changed")

# (old, new) -> (producer, fixture) -> (change, old best, new best, page bucket)
EXPECTED = {
    ("tf215", "tf221"): {
        ("keras212", "builtin-h5"): ("unchanged", "load_model", "load_model", "unchanged"),
        # load_model now fails; rebuild_weights still passes: a switch.
        ("keras212", "lambda-h5"): ("switch_strategy", "load_model", "rebuild_weights", "switch"),
        # the old best loads but its numbers are wrong, and nothing else passes.
        ("keras212", "canary-h5"): ("numbers_changed", "unsafe", None, "wrong_numbers"),
        ("keras212", "lambda-json"): ("started_working", None, "json_weights", "starts"),
        ("tf215", "builtin-h5"): ("not_compared", None, None, "not_compared"),
    },
    ("tf221", "tf215"): {
        ("keras212", "builtin-h5"): ("unchanged", "load_model", "load_model", "unchanged"),
        # rebuild_weights still passes, and load_model, earlier in the order, passes too.
        ("keras212", "lambda-h5"): ("improved", "rebuild_weights", "load_model", "improved"),
        ("keras212", "canary-h5"): ("started_working", None, "unsafe", "starts"),
        # json_weights fails and nothing else passes: no strategy to switch to.
        ("keras212", "lambda-json"): ("stopped_working", "json_weights", None, "stops"),
        ("tf215", "builtin-h5"): ("not_compared", None, None, "not_compared"),
    },
}

# The page beside a fixture measured on one side only shows that side's best (regress names
# no best for a pair it did not compare): tf215's builtin-h5 is measured by tf221 alone.
PAGE_BESTS = {
    ("tf215", "tf221"): {("tf215", "builtin-h5"): (None, "load_model")},
    ("tf221", "tf215"): {("tf215", "builtin-h5"): ("load_model", None)},
}


def page_rows(old: str, new: str) -> dict:
    """``{(producer, fixture): (change, old best, new best, bucket)}`` as the page shows them."""
    rows = dict(EXPECTED[old, new])
    for key, (old_best, new_best) in PAGE_BESTS[old, new].items():
        change, _, _, bucket = rows[key]
        rows[key] = (change, old_best, new_best, bucket)
    return rows


def _set(attempt: dict, verdict: str) -> dict:
    attempt = {
        k: v
        for k, v in attempt.items()
        if k not in ("verdict", "error", "reason", "cosine", "max_abs_diff", "signal", "exit_code")
    }
    attempt["verdict"] = verdict
    if verdict == "error":
        attempt["error"] = {"type": "ValueError", "message": "canned failure", "traceback": ""}
    elif verdict == "pass":
        attempt.update(max_abs_diff=0.0, cosine=1.0)
    else:
        attempt.update(max_abs_diff=1.0, cosine=0.5)
    return attempt


def write(folder: Path) -> Path:
    """The canned results files in ``folder``; returns it."""
    folder.mkdir(parents=True, exist_ok=True)
    for consumer, name in SOURCES.items():
        document = json.loads((DATA / name).read_text())
        passing, wrong = PASSING[consumer], MISMATCH.get(consumer, {})
        kept = []
        for attempt in document["attempts"]:
            key = (attempt["producer"], attempt["fixture"])
            if key not in passing:
                continue
            strategy = attempt["strategy"]
            verdict = "pass" if strategy in passing[key] else "mismatch" if strategy in wrong.get(key, ()) else "error"
            kept.append(_set(attempt, verdict))
        document["attempts"] = kept
        (folder / name).write_text(json.dumps(document))
    return folder
