"""Recipe truth: every distinct recipe, run as the standalone script a user would run.

``compat recipes --check [SOURCE...]`` reads attempts from a ``matrix.json`` or from
results files, keeps the ones that passed, and groups them by recipe text with the file
paths normalised. Each distinct recipe then runs once, in a consumer where it passed, the
way a user runs it: ``python -I recipe.py input.npy out.npy`` in a temporary folder that
holds only the fixture's file(s), the architecture file and the script, with only the
path lines changed, so nothing of this project can be imported. Its output must pass the
matrix's own numeric check against the producer's reference.

Recipes of ``canarymodule`` fixtures are counted apart and not run: those files name a
function in this project's module on purpose, so they load only where it is importable.

Exit status: 0 when every recipe reproduced the reference, 3 when one did not, 2 for bad input.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from compat import catalog
from compat.environments import envs, standalone
from compat.errors import EXIT_HARNESS, EXIT_OK, BadInput, HarnessFailure
from compat.harness import corpus, fixtures
from compat.paths import PROJECT_ROOT
from compat.records import matrixdoc, results
from compat.records.outputs import compare_outputs
from compat.records.recipetext import normalized
from compat.records.verdicts import Verdict

NEEDS_THIS_PROJECT = ("canarymodule",)


class RecipeError(BadInput):
    """Bad input to the recipe check, in one line (exit status 2)."""


@dataclasses.dataclass(frozen=True)
class Recipe:
    """One distinct recipe text and the passing attempt it is run for."""

    text: str
    consumer: str
    producer: str
    fixture: str
    strategy: str
    attempts: int

    @property
    def label(self) -> str:
        return f"{self.consumer} {self.producer}/{self.fixture} {self.strategy}"


@dataclasses.dataclass(frozen=True)
class Outcome:
    recipe: Recipe
    passed: bool
    detail: str
    seconds: float


def read_attempts(paths: list[Path]) -> list[dict]:
    """Attempts, each with its consumer, from matrix.json documents and results files."""
    attempts = []
    for path in paths:
        try:
            schema = json.loads(Path(path).read_text()).get("schema")
        except FileNotFoundError:
            raise RecipeError(f"{path}: no such file") from None
        except (ValueError, AttributeError) as exc:
            raise RecipeError(f"{path}: not a JSON document ({exc})") from None
        try:
            if schema == matrixdoc.SCHEMA:
                attempts.extend(matrixdoc.read(path)["attempts"])
            elif schema == results.SCHEMA:
                document = results.read(path)
                consumer = document["run"]["consumer"]
                attempts.extend(dict(a, consumer=consumer) for a in document["attempts"])
            else:
                raise RecipeError(f"{path}: schema {schema!r} is neither {matrixdoc.SCHEMA!r} nor {results.SCHEMA!r}")
        except results.ResultsError as exc:
            raise RecipeError(str(exc)) from None
    return attempts


def distinct(attempts: list[dict]) -> tuple[list[Recipe], list[Recipe]]:
    """``(recipes to run, recipes that pass only where this project is importable)``.

    Each distinct text is run for the first passing attempt that holds it, preferring one
    whose file needs nothing of this project.
    """
    groups: dict[str, list[dict]] = {}
    for attempt in attempts:
        if attempt.get("verdict") == Verdict.PASS.value and attempt.get("recipe"):
            groups.setdefault(normalized(attempt["recipe"]), []).append(attempt)
    runnable: list[Recipe] = []
    apart: list[Recipe] = []
    for members in groups.values():
        standalone = [a for a in members if a["variant"] not in NEEDS_THIS_PROJECT]
        chosen = (standalone or members)[0]
        recipe = Recipe(
            chosen["recipe"],
            chosen["consumer"],
            chosen["producer"],
            chosen["fixture"],
            chosen["strategy"],
            len(members),
        )
        (runnable if standalone else apart).append(recipe)
    return runnable, apart


@dataclasses.dataclass(frozen=True)
class _Source:
    """A fixture's files, what a recipe is fed and what its output must equal."""

    root: Path
    fixture: dict
    feed: Callable[[Path], Path]
    """Writes the recipe's INPUT file into a folder; returns its path."""
    judge: Callable[[Path], tuple[bool, str]]
    """``(passed, detail)`` of the recipe's OUTPUT file."""


def _fixture(producer: str, fixture_id: str) -> _Source:
    manifest = fixtures.load_manifest(producer)
    for fixture in manifest["fixtures"]:
        if fixture["id"] == fixture_id:
            root = fixtures.unpacked(producer)
            return _Source(root, fixture, _facenet_feed(root, manifest), _facenet_judge(root, manifest, fixture))
    for fixture, batch, reference in corpus.matrix_fixtures(producer):
        if fixture["id"] == fixture_id:
            root = corpus.unpacked(fixture["set"], producer)
            return _Source(root, fixture, _named_feed(fixture, batch), _named_judge(fixture, reference))
    raise RecipeError(f"producer {producer} has no fixture {fixture_id}")


def _facenet_feed(root: Path, manifest: dict) -> Callable[[Path], Path]:
    def feed(folder: Path) -> Path:
        from compat.inside import facenet  # numpy only: safe on the host

        images = np.load(root / manifest["reference"]["input"])["images"]
        np.save(folder / "input.npy", facenet.prewhiten_batch(images))
        return folder / "input.npy"

    return feed


def _facenet_judge(root: Path, manifest: dict, fixture: dict) -> Callable[[Path], tuple[bool, str]]:
    reference = np.load(root / manifest["reference"]["embeddings"][fixture["variant"]])
    return lambda produced: standalone.judged(reference, produced)


def _named_feed(fixture: dict, batch: Path) -> Callable[[Path], Path]:
    """A reported model's recipe reads INPUT.npy (one input) or INPUT.npz (arrays by name)."""
    names = [item["name"] for item in fixture["spec"]["inputs"]]

    def feed(folder: Path) -> Path:
        with np.load(batch) as arrays:
            if len(names) == 1:
                np.save(folder / "input.npy", arrays[names[0]])
                return folder / "input.npy"
            np.savez(folder / "input.npz", **{name: arrays[name] for name in names})
        return folder / "input.npz"

    return feed


def _named_judge(fixture: dict, reference: Path) -> Callable[[Path], tuple[bool, str]]:
    """A reported model's OUTPUT.npy (one output) or OUTPUT.npz, by the check the matrix made."""
    names = [item["name"] for item in fixture["spec"]["outputs"]]
    expected = corpus.reference_arrays(reference, names)

    def judge(produced: Path) -> tuple[bool, str]:
        try:
            if produced.suffix == ".npz":  # several outputs, by name
                with np.load(produced, allow_pickle=False) as found:
                    arrays = [(n, np.asarray(found[n], dtype=np.float64)) for n in found.files]
            else:  # OUTPUT.npy: the one output
                arrays = [(names[0], np.asarray(np.load(produced, allow_pickle=False), dtype=np.float64))]
        except (OSError, ValueError, KeyError) as exc:
            return False, f"its OUTPUT file cannot be read ({exc})"
        numbers = compare_outputs(expected, arrays)
        detail = numbers.get("detail") or f"max |diff| {numbers['max_abs_diff']:.2g}, cosine {numbers['cosine']}"
        return numbers["verdict"] is Verdict.PASS, detail

    return judge


def run_one(recipe: Recipe, timeout: float = 600.0) -> Outcome:
    """Run one recipe standalone in its consumer and judge its output."""
    started = time.time()
    source = _fixture(recipe.producer, recipe.fixture)
    root, fixture = source.root, source.fixture
    python = envs.ensure_built(catalog.get(recipe.consumer))
    scratch = Path(tempfile.mkdtemp(prefix="compat-recipe-"))
    try:
        folder, io_dir, home = scratch / "run", scratch / "io", scratch / "home"
        for path in (folder, io_dir, home):
            path.mkdir()
        for entry in fixture["files"]:
            target = folder / entry["path"]
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(root / entry["path"], target)
        standalone.write_companions(folder, recipe.text)
        (folder / "recipe.py").write_text(standalone.standalone_script(recipe.text, folder))
        given = source.feed(io_dir)
        produced = io_dir / ("out.npz" if len((fixture.get("spec") or {}).get("outputs") or [0]) > 1 else "out.npy")
        process = subprocess.Popen(
            [str(python), "-I", "recipe.py", str(given), str(produced)],
            cwd=str(folder),
            env=standalone.isolated_env(home),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        failed = standalone.finished(process, timeout)
        if failed:
            return Outcome(recipe, False, failed, time.time() - started)
        passed, detail = source.judge(produced)
        return Outcome(recipe, passed, detail, time.time() - started)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def project_importable(consumer: str) -> bool:
    """Whether ``compat`` can be imported by an isolated interpreter of ``consumer`` (it must not)."""
    python = envs.ensure_built(catalog.get(consumer))
    with tempfile.TemporaryDirectory(prefix="compat-recipe-") as folder:
        done = subprocess.run(
            [str(python), "-I", "-c", "import compat"],
            check=False,
            cwd=folder,
            env=standalone.isolated_env(Path(folder)),
            capture_output=True,
        )
    return done.returncode == 0


def check(recipes: list[Recipe], jobs: int = 2, timeout: float = 600.0, log=print) -> list[Outcome]:
    """Run every recipe standalone, ``jobs`` at a time; outcomes in the recipes' order."""
    for consumer in sorted({r.consumer for r in recipes}):
        if project_importable(consumer):
            raise HarnessFailure(
                f"this project is importable in {consumer} even under python -I; "
                f"a recipe run there would not be standalone"
            )
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        outcomes = list(pool.map(lambda r: run_one(r, timeout), recipes))
    for outcome in outcomes:
        if not outcome.passed:
            log(f"FAIL {outcome.recipe.label}: {outcome.detail}")
    return outcomes


def count(
    sources: list[str], *, consumers: str | None = None, run: bool = False, jobs: int = 2, timeout: float = 600.0
) -> int:
    """``compat recipes``: the distinct passing recipes of ``sources`` (of ``consumers``, comma-separated,
    when given) counted and, with ``run``, each run standalone."""
    paths = [Path(p) for p in sources] or [PROJECT_ROOT / "reports" / "matrix.json"]
    attempts = read_attempts(paths)
    if consumers:
        wanted = [catalog.get(c).id for c in consumers.split(",") if c]
        attempts = [a for a in attempts if a.get("consumer") in wanted]
    runnable, apart = distinct(attempts)
    passing = sum(r.attempts for r in runnable + apart)
    shown = sorted({r.consumer for r in runnable}, key=catalog.ids().index)
    print(
        f"[recipes] {len(runnable)} distinct recipes over {passing} passing attempts "
        f"({', '.join(shown) or 'no consumer'})",
        flush=True,
    )
    if apart:
        print(
            f"[recipes] {len(apart)} more pass only where this project is importable "
            f"({', '.join(NEEDS_THIS_PROJECT)} files name its module on purpose): not run",
            flush=True,
        )
    if not run:
        return EXIT_OK
    started = time.time()
    outcomes = check(runnable, jobs=jobs, timeout=timeout, log=lambda line: print(line, flush=True))
    good = sum(o.passed for o in outcomes)
    print(
        f"{good} of {len(outcomes)} distinct recipes ran standalone and reproduced the reference "
        f"({time.time() - started:.0f}s)",
        flush=True,
    )
    return EXIT_OK if good == len(outcomes) else EXIT_HARNESS
