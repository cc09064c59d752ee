"""Corpus sets: models that are not the fixtures' FaceNet, written by each producer.

``fixtures/corpus/<set>/<producer>/`` holds ``manifest.json`` (provenance; per model its
format, inputs, outputs, files with sha256, reference), ``reference/<id>.npz`` (the input
arrays and every output the producer computed) and ``models.tar.xz`` (the model files,
packed reproducibly as the fixtures are). ``compat gen <producer> --corpus <set>`` writes
one; ``--check`` regenerates it into a temporary folder and compares. Consumers read an
unpacked copy under ``.cache/corpus/``, verified file by file against the manifest.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from compat import catalog
from compat.harness import fixtures
from compat.inside import corpus as inside_corpus
from compat.paths import PROJECT_ROOT, cache_root

CORPUS_DIR = fixtures.FIXTURES_DIR / "corpus"
SET_MODULE_PREFIX = "corpus_"
INSIDE_DIR = PROJECT_ROOT / "compat" / "inside"
# Regenerated numbers must equal the committed ones to this (same stack, same seeds).
CHECK_TOLERANCE = fixtures.CHECK_TOLERANCE


class CorpusError(fixtures.FixtureError):
    """A one-line reason a corpus set cannot be used."""


def set_names() -> list[str]:
    """The sets there are: one ``compat/inside/corpus_<name>.py`` each."""
    return sorted(p.stem[len(SET_MODULE_PREFIX) :] for p in INSIDE_DIR.glob(SET_MODULE_PREFIX + "*.py"))


def check_set_name(name: str) -> str:
    if name not in set_names():
        raise CorpusError(f"unknown corpus set {name!r}; the sets are: {', '.join(set_names())}")
    return name


def set_dir(set_name: str, producer: str) -> Path:
    return CORPUS_DIR / set_name / producer


def load_manifest(set_name: str, producer: str) -> dict:
    return fixtures.read_manifest(
        set_dir(set_name, producer) / "manifest.json",
        f"no {set_name} corpus for producer {producer}",
        f"write it with `compat gen {producer} --corpus {set_name}`",
    )


def model_files(manifest: dict) -> list[dict]:
    """Every model file of a corpus manifest (``{"path", "bytes", "sha256"}``), each once."""
    found = {}
    for model in manifest["models"]:
        for entry in model["files"]:
            found[entry["path"]] = entry
    return [found[path] for path in sorted(found)]


def run_writer(env: catalog.Environment, set_name: str, out_dir: Path) -> None:
    """Run ``compat.inside.corpus`` inside ``env``, writing the raw set to ``out_dir``."""
    fixtures.run_inside(
        env, "compat.inside.corpus", [str(out_dir), "--set", set_name], out_dir.parent, f"writing the {set_name} corpus"
    )


def generate(env: catalog.Environment, set_name: str, log=print) -> Path:
    """Write ``fixtures/corpus/<set>/<env.id>`` from the environment's lock."""
    check_set_name(set_name)
    started = time.time()
    dest = set_dir(set_name, env.id)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"corpus-{env.id}-") as tmp:
        raw = Path(tmp) / "raw"
        run_writer(env, set_name, raw)
        manifest = json.loads((raw / "manifest.json").read_text())
        fixtures.pack(raw, dest, [entry["path"] for entry in model_files(manifest)])
    log(
        f"[compat] {env.id} {set_name} corpus: {len(manifest['models'])} models, "
        f"{len(manifest['skipped'])} not writable, {fixtures.tree_bytes(dest) / 1e6:.3f} MB, "
        f"{time.time() - started:.1f}s"
    )
    return dest


def unpacked(set_name: str, producer: str) -> Path:
    """A verified, unpacked copy of one producer's set (made once, then reused)."""
    manifest = load_manifest(set_name, producer)
    return fixtures.unpack_verified(
        set_dir(set_name, producer),
        cache_root() / "corpus" / set_name / producer,
        model_files(manifest),
        f"{set_name}/{producer}",
    )


def read_reference(folder: Path, model: dict) -> dict[str, np.ndarray]:
    """``{"input:<name>" | "output:<name>": array}`` of one model, or {} when it has none."""
    if not model.get("reference"):
        return {}
    with np.load(folder / model["reference"]) as data:
        return {key: data[key] for key in data.files}


def compare(committed_dir: Path, committed: dict, fresh_dir: Path, fresh: dict, log=print) -> list[str]:
    """What differs between two writes of one set: ids, inputs (exactly), outputs (within tolerance)."""
    problems = []
    old = {m["id"]: m for m in committed["models"]}
    new = {m["id"]: m for m in fresh["models"]}
    if set(old) != set(new):
        problems.append(f"model lists differ: {sorted(set(old) ^ set(new))}")
    old_skipped = {s["id"] for s in committed["skipped"]}
    new_skipped = {s["id"] for s in fresh["skipped"]}
    if old_skipped != new_skipped:
        problems.append(f"skipped lists differ: {sorted(old_skipped ^ new_skipped)}")
    for model_id in sorted(set(old) & set(new)):
        before, after = read_reference(committed_dir, old[model_id]), read_reference(fresh_dir, new[model_id])
        if set(before) != set(after):
            problems.append(f"{model_id}: reference arrays differ: {sorted(set(before) ^ set(after))}")
            continue
        worst = 0.0
        for key in sorted(before):
            if before[key].shape != after[key].shape or before[key].dtype != after[key].dtype:
                problems.append(
                    f"{model_id} {key}: {before[key].dtype}{before[key].shape} became "
                    f"{after[key].dtype}{after[key].shape}"
                )
            elif key.startswith("input:"):
                if not np.array_equal(before[key], after[key]):
                    problems.append(f"{model_id} {key}: the reference input differs")
            else:
                # of the output's scale, as fixtures.check measures it: other CPUs round otherwise
                scale = max(1.0, float(np.max(np.abs(before[key]), initial=0.0)))
                worst = max(
                    worst, float(np.max(np.abs(before[key].astype(np.float64) - after[key]), initial=0.0)) / scale
                )
        if worst > CHECK_TOLERANCE:
            problems.append(f"{model_id}: outputs differ by {worst:.3g} of their scale > {CHECK_TOLERANCE}")
        log(f"[compat] {model_id}: max |committed - regenerated| = {worst:.3g}")
    old_files = {f["path"]: f["sha256"] for f in model_files(committed)}
    new_files = {f["path"]: f["sha256"] for f in model_files(fresh)}
    same_bytes = sum(1 for path, digest in new_files.items() if old_files.get(path) == digest)
    # Bytes are reported, not required: HDF5 and SavedModel writers stamp times and ids.
    log(f"[compat] {same_bytes} of {len(new_files)} model files byte-identical to the committed ones")
    return problems


def check(env: catalog.Environment, set_name: str, log=print) -> list[str]:
    """Regenerate into a temporary folder; the reference numbers must equal the committed ones."""
    check_set_name(set_name)
    committed = load_manifest(set_name, env.id)
    with tempfile.TemporaryDirectory(prefix=f"corpus-check-{env.id}-") as tmp:
        raw = Path(tmp) / "raw"
        run_writer(env, set_name, raw)
        fresh = json.loads((raw / "manifest.json").read_text())
        return compare(set_dir(set_name, env.id), committed, raw, fresh, log)


def cmd_gen(envs: list[catalog.Environment], set_name: str, check_only: bool, log=print) -> list[str]:
    """``compat gen ... --corpus SET [--check]``: the producers whose check failed."""
    check_set_name(set_name)
    failed = []
    for env in envs:
        started = time.time()
        if not check_only:
            generate(env, set_name, log)
            continue
        problems = check(env, set_name, log)
        verdict = "deterministic" if not problems else "NOT reproduced: " + "; ".join(problems)
        log(f"[compat] check {env.id} {set_name} corpus: {verdict} ({time.time() - started:.0f}s)")
        if problems:
            failed.append(env.id)
    return failed


# -- the reported failures in the matrix ---------------------------------------------------
MATRIX_SET = "reported"
"""The corpus set the matrix loads beside each producer's FaceNet fixtures: small models with the
features FaceNet-family models carry that users report failing across versions (DepthwiseConv2D
groups, TF ops on Keras tensors, a Lambda without output_shape, recurrent layers, two named
inputs, preprocessing layers, a Keras 3 .h5). Each is judged by its named outputs."""
STORED_CODE = {"lambda_no_output_shape": "a Lambda layer's Python bytecode"}
"""What code a case's files store, for the comment a recipe that runs it carries."""
BATCH_DIR = "batches"


def matrix_fixtures(producer: str) -> list[tuple[dict, Path, Path]]:
    """``[(fixture, input batch, reference)]`` of the producer's reported set, none without one.

    The fixture is what the worker is handed: the manifest's entry as a user's file is described
    (``facenet`` false, its named inputs and outputs as ``spec``), with ``set`` naming where its
    files are. The input batch is the reference's inputs by their own names, as the worker reads
    a user's batch; the reference is the committed ``reference/<id>.npz``.
    """
    manifest, models = _matrix_models(producer)
    folder = set_dir(MATRIX_SET, producer)
    found = []
    for model in models:
        case = model["id"][: -len(model["format"]) - 1]
        fixture = {
            "id": model["id"],
            "variant": case,
            "format": model["format"],
            "path": model["path"],
            "weights": model["weights"],
            "kind": "model",
            "files": model["files"],
            "set": MATRIX_SET,
            "facenet": False,
            "spec": {"inputs": model["inputs"], "outputs": model["outputs"]},
            "custom_classes": [],
            "stored_code": STORED_CODE.get(case, ""),
            "saved_by_keras": manifest["versions"].get("keras"),
        }
        reference = folder / model["reference"]
        found.append((fixture, batch_file(producer, model["id"], reference), reference))
    return found


def matrix_ids(producer: str) -> list[str]:
    """The ids ``matrix_fixtures`` plans for a producer, read from its manifest alone (nothing written)."""
    return [model["id"] for model in _matrix_models(producer)[1]]


def _matrix_models(producer: str) -> tuple[dict, list[dict]]:
    """The producer's reported-set manifest and its models that have reference numbers."""
    if not (set_dir(MATRIX_SET, producer) / "manifest.json").exists():
        return {}, []
    manifest = load_manifest(MATRIX_SET, producer)
    return manifest, [model for model in manifest["models"] if model.get("reference")]


def batch_file(producer: str, model_id: str, reference: Path) -> Path:
    """The reference's ``input:<name>`` arrays as ``<name>``, written once under the cache with
    fixed bytes (the attempt's key hashes it), beside nothing else."""
    digest = hashlib.sha256(reference.read_bytes()).hexdigest()[:16]
    path = cache_root() / "corpus" / MATRIX_SET / BATCH_DIR / producer / digest / f"{model_id}.npz"
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    with np.load(reference) as data:
        arrays = [(key[len("input:") :], data[key]) for key in sorted(data.files) if key.startswith("input:")]
    staging = path.with_name(f".{path.name}.{os.getpid()}")
    inside_corpus.write_npz(str(staging), arrays)  # the reference files' own writer: numpy only
    staging.replace(path)  # whole or not at all, whichever consumer run writes it first
    return path


def reference_arrays(reference: Path, names: list[str]) -> list[tuple[str, np.ndarray]]:
    """``[(output name, array)]`` of a reference npz, in the order of the model's outputs."""
    with np.load(reference) as data:
        return [(name, np.asarray(data["output:" + name], dtype=np.float64)) for name in names]
