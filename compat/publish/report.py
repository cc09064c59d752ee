"""The published report: merge every results file into ``matrix.json``, render HTML and Markdown.

``matrix.json`` (``schema: "compat.matrix/4"``, keys sorted; on disk, repeated strings are
stored once: see ``compat.records.matrixdoc``)::

    {"schema", "generated": latest "finished" of the merged runs (never the clock),
     "catalog": [{"id", "python", "summary", "keras_api", "roles", "lock", "runtime",
                  "versions": {"python", "tensorflow", "keras", "h5py", "numpy"},
                  "versions_from": "run" | "lock"}],       # every catalog environment, in order
     "strategies": [...], "tolerance": {...},                # as in the results files
     "runs": [{"source": file name, ...the results file's "run"}],
     "attempts": [{"consumer", ...the results file's attempt, "key" included}]}

The HTML and Markdown are functions of ``matrix.json`` alone, so re-rendering a committed
``matrix.json`` reproduces the committed pages byte for byte. Nothing here imports TensorFlow.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import jinja2
from markupsafe import Markup

from compat import catalog
from compat.errors import BadInput
from compat.paths import PROJECT_ROOT
from compat.publish import advisories, cells, pagedata, upgrade
from compat.records import families, matrixdoc, results, summary
from compat.records.attempt import attempt_id

SCHEMA = matrixdoc.SCHEMA
REPORTS_DIR = PROJECT_ROOT / "reports"
TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
VERSION_KEYS = ("python", "tensorflow", "keras", "h5py", "numpy")
FACENET_CASE = ("lambda", "h5")
"""The filter for the question this project started from: facenet_keras.h5."""
FACENET_PAIR = ("keras212", "tf221")
"""Where facenet_keras.h5 was saved and where its users need it: the landing view's first link."""
UPGRADE_EXAMPLE = ("tf215", "tf221")
"""The last TF with Keras 2 inside to today's TF: the upgrade the landing view links to."""


class ReportError(BadInput):
    """Results that cannot be merged or a matrix that cannot be rendered, in one line."""


# -- merging ----------------------------------------------------------------------------
def results_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise ReportError(f"{folder}: no such folder of results files")
    found = sorted(p for p in folder.glob("*.json") if not p.name.startswith("."))
    if not found:
        raise ReportError(f"{folder}: no results files (*.json) to merge")
    return found


def _catalog_index(env_id: str, where: str, role: str) -> int:
    try:
        return catalog.ids().index(env_id)
    except ValueError:
        raise ReportError(f"{where}: {role} {env_id!r} is not in the catalog") from None


def _check_same(kind: str, value, seen: dict, key, source: str) -> None:
    """The same thing reported by two files must agree, or the matrix would mix two worlds."""
    if value is None:
        return
    if key in seen and seen[key][0] != value:
        raise ReportError(
            f"{kind} differ between {seen[key][1]} and {source}; re-run one of them so both describe the same setup"
        )
    seen.setdefault(key, (value, source))


def _check_strategies(value, seen: dict, source: str) -> set[str]:
    """Two strategy lists agree when one holds the other: a strategy added since a source was
    measured leaves that source's cells of it unmeasured (shown "not tried"), and the longer
    list is kept. A strategy a later source describes otherwise (it reads another format now)
    takes the later description; its names are returned, so that what earlier sources measured
    of it is kept only where a later one measured it again."""
    if value is None:
        return set()
    if "strategies" not in seen:
        seen["strategies"] = (value, source)
        return set()
    known, where = seen["strategies"]
    mine, theirs = {s["name"]: s for s in value}, {s["name"]: s for s in known}
    if not (set(mine) <= set(theirs) or set(theirs) <= set(mine)):
        raise ReportError(
            f"strategy lists differ between {where} and {source}; re-run one of them so both describe the same setup"
        )
    changed = {name for name in set(mine) & set(theirs) if mine[name] != theirs[name]}
    if len(mine) > len(theirs):
        seen["strategies"] = (value, source)
    elif changed:
        seen["strategies"] = ([mine.get(s["name"], s) for s in known], where)
    return changed


def _attempt_id(consumer: str, attempt: dict) -> tuple:
    return (consumer,) + attempt_id(attempt)


class _Merger:
    """Accumulates a published matrix and results files, later sources over earlier ones.

    The same attempt measured twice with the same key (``compat.records.attemptkey``) and the same
    verdict counts once (the later measurement is kept); with differing verdicts the later
    one is kept and the cell is marked ``unstable`` with every verdict seen, a finding
    rather than an error. A later measurement under another key (other code, fixture or
    reference; or the earlier one had no key) replaces the earlier one: it measured
    something else. Two sources that describe different setups (locks, runtimes, strategy
    lists) are refused.
    """

    def __init__(self):
        self.seen: dict[tuple, tuple[int, str]] = {}
        self.agreed: dict = {}
        self.consumers: dict[str, dict] = {}
        self.runs: list[dict] = []
        self.attempts: list[dict] = []
        self.stamps: list[str] = []
        self.stale: set[int] = set()
        """Attempts of a strategy a later source describes otherwise, not measured again since."""

    def _redescribed(self, names: set[str]) -> None:
        self.stale |= {i for i, attempt in enumerate(self.attempts) if attempt["strategy"] in names}

    def add(self, document: dict, source: str) -> None:
        consumer = document["run"]["consumer"]
        _catalog_index(consumer, source, "consumer")
        self._redescribed(_check_strategies(document.get("strategies"), self.agreed, source))
        _check_same("tolerances", document.get("tolerance"), self.agreed, "tolerance", source)
        for part in ("lock", "runtime"):
            _check_same(f"{part}s of {consumer}", document["consumer"].get(part), self.agreed, (part, consumer), source)
        if not document["attempts"]:
            return  # a run that measured nothing adds nothing, not even a run entry
        block = self.consumers.setdefault(consumer, {})
        block.update({k: v for k, v in document["consumer"].items() if v is not None})
        self._add_run(dict(document["run"], source=source))
        for attempt in document["attempts"]:
            self.add_attempt(consumer, attempt, source)

    def add_matrix(self, matrix: dict, source: str) -> None:
        """A published ``matrix.json``: its runs, measured setups and attempts, as the base."""
        self._redescribed(_check_strategies(matrix.get("strategies"), self.agreed, source))
        _check_same("tolerances", matrix.get("tolerance"), self.agreed, "tolerance", source)
        for entry in matrix.get("catalog") or []:
            if entry.get("versions_from") != "run" or entry["id"] not in catalog.ids():
                continue
            for part in ("lock", "runtime"):
                _check_same(f"{part}s of {entry['id']}", entry.get(part), self.agreed, (part, entry["id"]), source)
            block = self.consumers.setdefault(entry["id"], {})
            block.update(
                {
                    k: entry[k]
                    for k in ("id", "python", "keras_api", "summary", "lock", "runtime")
                    if entry.get(k) is not None
                }
            )
        for run in matrix.get("runs") or []:
            self._add_run(run)
        for attempt in matrix["attempts"]:
            attempt = dict(attempt)
            self.add_attempt(attempt.pop("consumer"), attempt, source)

    def _add_run(self, run: dict) -> None:
        self.runs = [r for r in self.runs if r["source"] != run["source"]] + [run]
        # A run's date is when it finished; an interrupted one only has its start.
        stamp = run.get("finished") or run.get("started")
        if stamp:
            self.stamps.append(stamp)

    def add_attempt(self, consumer: str, attempt: dict, source: str) -> None:
        _catalog_index(attempt["producer"], source, "producer")
        key = _attempt_id(consumer, attempt)
        published = _published(dict(attempt, consumer=consumer))
        if key in self.seen:
            index, _ = self.seen[key]
            earlier = self.attempts[index]
            published.pop("unstable", None)
            if earlier.get("key") == published.get("key"):
                verdicts = set(earlier.get("unstable") or [earlier["verdict"]]) | {published["verdict"]}
                if len(verdicts) > 1:
                    published["unstable"] = sorted(verdicts)
            self.attempts[index] = published
            self.stale.discard(index)
        else:
            self.attempts.append(published)
        self.seen[key] = (self.seen[key][0] if key in self.seen else len(self.attempts) - 1, source)

    def document(self) -> dict:
        strategies = self.agreed.get("strategies", (None,))[0] or []
        ids = catalog.ids()
        return {
            "schema": SCHEMA,
            "generated": max(self.stamps) if self.stamps else None,
            "catalog": [catalog_entry(env, self.consumers.get(env.id)) for env in catalog.ENVIRONMENTS],
            "strategies": strategies,
            "tolerance": self.agreed.get("tolerance", (None,))[0],
            "runs": sorted(self.runs, key=lambda r: (ids.index(r["consumer"]), r["source"])),
            "attempts": sorted(
                (a for i, a in enumerate(self.attempts) if i not in self.stale),
                key=_attempt_sort_key(summary.strategy_order(strategies)),
            ),
        }


PUBLISHED_TRACEBACK_CHARS = 300


def _published(attempt: dict) -> dict:
    """The attempt as matrix.json keeps it: the traceback's last frames only, and the canary
    readings only where there is a canary.

    The results files under reports/results/ keep the whole (capped) traceback; tens of
    thousands of them would make the published document too heavy to commit.
    """
    if not cells.is_canary(attempt):
        # Only a canary's function leaves the marker: elsewhere these always read false.
        attempt.pop("code_executed", None)
        attempt.pop("code_executed_by_predict", None)
    error = attempt.get("error")
    if error and len(error.get("traceback") or "") > PUBLISHED_TRACEBACK_CHARS:
        attempt["error"] = dict(error, traceback="..." + error["traceback"][-PUBLISHED_TRACEBACK_CHARS:])
    return attempt


def merge(paths: list[Path], base: dict | None = None, base_source: str = "matrix.json") -> dict:
    """One matrix document from a published one (``base``) and results files, in that order."""
    merger = _Merger()
    if base is not None:
        merger.add_matrix(base, base_source)
    for path in paths:
        document = results.read(path)
        try:
            merger.add(document, path.name)
        except (KeyError, TypeError) as exc:
            raise ReportError(f"{path.name}: malformed results file (missing or bad {exc})") from None
    return merger.document()


def _attempt_sort_key(order: list[str]):
    ids = catalog.ids()

    def key(attempt: dict) -> tuple:
        strategy = attempt["strategy"]
        return (
            ids.index(attempt["consumer"]),
            ids.index(attempt["producer"]),
            cells.variant_rank(attempt["variant"]),
            cells.format_rank(attempt["format"]),
            attempt["fixture"],
            (order.index(strategy), "") if strategy in order else (len(order), strategy),
        )

    return key


def _safe_lock(env: catalog.Environment) -> dict:
    try:
        return env.locked_versions()
    except OSError:
        return {}


def catalog_entry(env: catalog.Environment, consumer_block: dict | None) -> dict:
    """A catalog environment with the versions it really ran with, else its committed lock."""
    entry: dict = {
        "id": env.id,
        "python": env.python,
        "summary": env.summary,
        "keras_api": env.keras_api,
        "roles": sorted(env.roles),
    }
    if consumer_block and consumer_block.get("lock"):
        entry.update(consumer_block)
        entry["versions_from"] = "run"
    else:
        entry.update(lock=_safe_lock(env), runtime=None, versions_from="lock")
    entry["versions"] = resolved_versions(entry)
    return entry


def resolved_versions(entry: dict) -> dict:
    """python / tensorflow / keras / h5py / numpy: what the worker reported, else the lock."""
    lock = entry.get("lock") or {}
    runtime = entry.get("runtime") or {}
    keras = lock.get("tf-keras") if entry.get("keras_api") == "tf_keras" else lock.get("keras")
    from_lock = {
        "python": entry.get("python"),
        "tensorflow": lock.get("tensorflow") or lock.get("tensorflow-cpu"),
        "keras": keras,
        "h5py": lock.get("h5py"),
        "numpy": lock.get("numpy"),
    }
    versions = {key: runtime.get(key) or from_lock[key] for key in VERSION_KEYS}
    if runtime.get("jax") or lock.get("jax"):
        versions["jax"] = runtime.get("jax") or lock.get("jax")
    return versions


def read_matrix(path: Path) -> dict:
    return matrixdoc.read(path, ReportError)


def matrix_text(matrix: dict) -> str:
    return matrixdoc.text(matrix)


# -- what is shown ----------------------------------------------------------------------
def shown_environments(matrix: dict) -> tuple[list[str], list[str]]:
    """Rows: producers that were loaded; columns: consumers that ran; both in catalog order."""
    producers = {a["producer"] for a in matrix["attempts"]}
    consumers = {r["consumer"] for r in matrix["runs"]} | {a["consumer"] for a in matrix["attempts"]}
    ids = [entry["id"] for entry in matrix["catalog"]]
    return [i for i in ids if i in producers], [i for i in ids if i in consumers]


def generated_text(matrix: dict) -> str:
    stamp = matrix.get("generated")
    if not stamp:
        return "unknown date"
    return stamp.replace("T", " ")[:16] + " UTC" if stamp.endswith("Z") else stamp


def _environment(env_id: str, by_id: dict) -> dict:
    return cells.env_head(by_id[env_id])


def family_rows(census: families.Census) -> list[dict]:
    """The census as the page and the Markdown print it, most errors first."""
    return [
        {
            "id": name,
            "label": families.FAMILIES[name].label,
            "cause": families.FAMILIES[name].cause,
            "action": families.FAMILIES[name].action,
            "reports": list(families.FAMILIES[name].reports),  # owner/repo#N: the page stays self-contained
            "attempts": attempts,
            "errors": errors,
        }
        for name, attempts, errors in census.families
    ]


def _pair(pair: tuple[str, str], first: list[str], second: list[str]) -> tuple[str, str] | None:
    return pair if pair[0] in first and pair[1] in second else None


def facenet_link(producers: list[str], consumers: list[str]) -> str | None:
    pair = _pair(FACENET_PAIR, producers, consumers)
    if pair is None:
        return None
    return f"#variant={FACENET_CASE[0]}&format={FACENET_CASE[1]}&cell={pair[0]},{pair[1]}"


def context(matrix: dict) -> dict:
    """Everything the templates print, computed once from ``matrix.json``."""
    producers, consumers = shown_environments(matrix)
    by_id = {entry["id"]: entry for entry in matrix["catalog"]}
    found = cells.outcomes(matrix)
    data = pagedata.page_data(matrix, producers, consumers, found)
    counts = cells.totals(found)
    census = families.census(matrix)
    example = _pair(UPGRADE_EXAMPLE, consumers, consumers) or (tuple(consumers[:2]) if len(consumers) > 1 else None)
    return {
        "generated": generated_text(matrix),
        "generated_iso": matrix.get("generated") or "",
        "tolerance": matrix.get("tolerance") or {},
        "results_files": len(matrix["runs"]),
        "attempt_count": len(matrix["attempts"]),
        "incomplete": [r["source"] for r in matrix["runs"] if not r.get("complete")],
        "producers": [_environment(i, by_id) for i in producers],
        "consumers": [_environment(i, by_id) for i in consumers],
        "heads": cells.column_heads(found, consumers),
        "rows": cells.grid(matrix, producers, consumers, found=found),
        "facenet_rows": cells.grid(matrix, producers, consumers, *FACENET_CASE, found=found),
        "facenet_case": FACENET_CASE,
        "facenet_heads": cells.column_heads(found, consumers, *FACENET_CASE),
        "facenet_link": facenet_link(producers, consumers),
        "facenet_pair": FACENET_PAIR,
        "upgrade_example": example,
        "upgrade_rows": upgrade.summary_rows(matrix, upgrade.neighbour_pairs(consumers, (UPGRADE_EXAMPLE,)))
        if len(consumers) > 1
        else [],
        "buckets": upgrade.BUCKETS,
        "categories": [
            {
                "id": c,
                "label": summary.CATEGORY_LABELS[c],
                "short": cells.SHORT_LABELS[c],
                "mark": cells.MARKS[c],
                "count": counts[c],
            }
            for c in cells.CATEGORIES
        ],
        "fixture_count": sum(counts.values()),
        "variants": [{"id": v, "label": cells.VARIANT_LABELS.get(v, v)} for v in data["variants"]],
        "formats": [{"id": f, "label": cells.format_labels().get(f, f)} for f in data["formats"]],
        "catalog": [
            dict(entry, versions=cells.env_versions(entry), shown=entry["id"] in producers + consumers)
            for entry in matrix["catalog"]
        ],
        "version_keys": VERSION_KEYS,
        "strategies": [dict(s, short=cells.short_strategy(s["name"])) for s in matrix["strategies"]],
        "security": cells.security_table(matrix, consumers),
        "advisories": advisories.view(advisories.compare(matrix, consumers)),
        "census": census,
        "family_rows": family_rows(census),
        "data": pagedata.script_json(data),
        "architecture": architecture_link(),
        "translator": translator_link(),
    }


def architecture_link() -> dict:
    """The architecture file the recipes import, embedded in the page as a download (no network)."""
    from compat.paths import ARCHITECTURE

    return _download(ARCHITECTURE)


def translator_link() -> dict:
    """The translator the translate recipes import, embedded likewise."""
    from compat.paths import TRANSLATOR

    return _download(TRANSLATOR)


def _download(path) -> dict:
    encoded = base64.b64encode(path.read_bytes()).decode("ascii")
    return {"name": path.name, "href": "data:text/x-python;charset=utf-8;base64," + encoded}


# -- rendering --------------------------------------------------------------------------
def _environment_for(autoescape: bool) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
        autoescape=autoescape,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def _inline(name: str) -> Markup:
    """CSS and script files pasted into the page verbatim (they hold no template syntax)."""
    return Markup((TEMPLATES_DIR / name).read_text())


def render_html(matrix: dict, computed: dict | None = None) -> str:
    template = _environment_for(True).get_template("matrix.html.j2")
    return template.render(computed or context(matrix), css=_inline("matrix.css"), script=_inline("matrix.js"))


def render_markdown(matrix: dict, computed: dict | None = None) -> str:
    template = _environment_for(False).get_template("matrix.md.j2")
    return template.render(computed or context(matrix), md=markdown_cell)


def markdown_cell(text: str) -> str:
    """Table-safe Markdown text: a pipe or newline would break the row."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def build(results_dir: Path, out: Path, fresh: bool = False) -> dict:
    """Merge into ``out/matrix.json`` (unless ``fresh``), write it, and render from what was
    written (as a re-render would). Results never shrink a published matrix: an attempt
    they hold replaces its published one, every other published attempt stays."""
    published = out / "matrix.json"
    base = None if fresh or not published.exists() else read_matrix(published)
    if base is not None and not (results_dir.is_dir() and any(results_dir.glob("*.json"))):
        paths = []
    else:
        paths = results_files(results_dir)
    matrix = merge(paths, base, published.name)
    text = matrix_text(matrix)
    write_text(out / "matrix.json", text)
    return matrixdoc.expand(json.loads(text), ReportError, str(out / "matrix.json"))


def render_all(matrix: dict, out: Path) -> list[Path]:
    written = []
    computed = context(matrix)  # the upgrade view compares every pair of consumers: once for both pages
    for name, render in (("matrix.html", render_html), ("matrix.md", render_markdown)):
        write_text(out / name, render(matrix, computed))
        written.append(out / name)
    return written


def publish(results=None, from_json=None, out=None, fresh: bool = False) -> int:
    """Merge the results files (or read a matrix.json) and render the report into ``out``."""
    out = Path(out) if out else REPORTS_DIR
    if from_json:
        matrix = read_matrix(Path(from_json))
    else:
        matrix = build(Path(results) if results else REPORTS_DIR / "results", out, fresh=fresh)
    written = render_all(matrix, out)
    html_kb = written[0].stat().st_size / 1024
    unstable = sum(1 for a in matrix["attempts"] if a.get("unstable"))
    print(
        f"[compat] report: {len(matrix['attempts'])} attempts from {len(matrix['runs'])} run(s)"
        f"{f', {unstable} unstable (measured with differing verdicts)' if unstable else ''} "
        f"-> {', '.join(str(p) for p in written)} ({html_kb:.0f} KiB HTML)"
    )
    return 0
