"""The committed fixture sets: generating, packing, unpacking and checking them.

``fixtures/<producer>/`` holds ``manifest.json``, ``reference/`` (the input batch and
the embeddings the producer computed) and ``models.tar.xz``: the model files, packed
because Keras' HDF5 and SavedModel layouts spend most of their bytes on structure that
compresses 5-15x. Consumers read an unpacked copy under ``.cache/fixtures/``, verified
file by file against the manifest's sha256.
"""

from __future__ import annotations

import hashlib
import io
import json
import lzma
import shutil
import subprocess
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np

from compat import catalog
from compat.environments import envs
from compat.errors import BadInput
from compat.paths import PROJECT_ROOT, cache_root

FIXTURES_DIR = PROJECT_ROOT / "fixtures"
ARCHIVE = "models.tar.xz"
CHECK_TOLERANCE = 1e-6
"""Of the reference's scale (max(1, max |embedding|)): regenerated on another CPU, the same
seeded model computes its embeddings with other float32 rounding (seen: 2.2e-7 of the scale
between two Xeons; the same machine gives them bit for bit)."""
TRAINED_TOLERANCE = 1e-3
"""For a variant saved after a training step (``compiled``): the optimizer's first step moves
each weight by about the learning rate times the sign of its gradient, so a gradient near zero
rounded the other way on another CPU moves that weight the other way (seen: 4.3e-4 of the
scale for Keras 3's Adam). A wrong generator moves it by far more; the matrix is unaffected,
as every consumer is checked against the committed file's own reference."""
TRAINED_VARIANTS = ("compiled",)


class FixtureError(BadInput):
    """A one-line reason a fixture set cannot be used."""


def fixture_dir(producer: str) -> Path:
    return FIXTURES_DIR / producer


def load_manifest(producer: str) -> dict:
    return read_manifest(
        fixture_dir(producer) / "manifest.json",
        f"no fixtures for producer {producer}",
        f"generate them with `tox -e gen-{producer}`",
    )


def read_manifest(path: Path, missing: str, remedy: str) -> dict:
    """A committed set's manifest, or the one line saying it is missing (and how to make it) or broken."""
    if not path.exists():
        raise FixtureError(f"{missing}: {path} is missing ({remedy})")
    try:
        return json.loads(path.read_text())
    except ValueError as exc:
        raise FixtureError(f"{path} is not valid JSON: {exc}") from None


def run_generator(
    env: catalog.Environment, out_dir: Path, size: str = "tiny", variants: list[str] | None = None
) -> None:
    """Run ``compat.inside.generate`` inside ``env``, writing raw files to ``out_dir``."""
    args = [str(out_dir), "--size", size]
    if variants:
        args += ["--variants", ",".join(variants)]
    run_inside(env, "compat.inside.generate", args, out_dir.parent, "fixture generation")


def run_inside(env: catalog.Environment, module: str, args: list[str], cwd: Path, what: str) -> None:
    """``python -m module ARGS`` inside ``env``; its stderr's tail in the error when it fails."""
    python = envs.ensure_built(env)
    done = subprocess.run(
        [str(python), "-m", module, *args],
        env=envs.inside_env(env),
        cwd=str(cwd),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-15:])
        raise FixtureError(f"{what} failed in {env.id} (exit {done.returncode}):\n{tail}")


def _model_files(manifest: dict) -> list[str]:
    return sorted({f["path"] for fixture in manifest["fixtures"] for f in fixture["files"]})


def pack(raw_dir: Path, dest: Path, model_files: list[str] | None = None) -> None:
    """Turn a generator's output into the committed layout, reproducibly (no mtimes, sorted).

    ``model_files`` (relative paths) go into the archive; by default the manifest's fixtures'.
    """
    if model_files is None:
        model_files = _model_files(json.loads((raw_dir / "manifest.json").read_text()))
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}-", dir=str(dest.parent)))
    try:
        shutil.copytree(raw_dir / "reference", staging / "reference")
        shutil.copy2(raw_dir / "manifest.json", staging / "manifest.json")
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for rel in sorted(set(model_files)):
                info = tar.gettarinfo(str(raw_dir / rel), arcname=rel)
                info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
                info.mode = 0o644
                with open(raw_dir / rel, "rb") as handle:
                    tar.addfile(info, handle)
        (staging / ARCHIVE).write_bytes(lzma.compress(buffer.getvalue(), preset=9 | lzma.PRESET_EXTREME))
        staging.chmod(0o755)  # mkdtemp makes it private; the committed folder is not
        if dest.exists():
            shutil.rmtree(dest)
        staging.rename(dest)
    finally:
        if staging.exists():
            shutil.rmtree(staging)


def unpacked(producer: str) -> Path:
    """A verified, unpacked copy of one producer's fixture set (made once, then reused)."""
    manifest = load_manifest(producer)
    files = [entry for fixture in manifest["fixtures"] for entry in fixture["files"]]
    return unpack_verified(fixture_dir(producer), cache_root() / "fixtures" / producer, files, producer)


def unpack_verified(source: Path, cache_parent: Path, files: list[dict], label: str) -> Path:
    """``source``'s archive, manifest and reference/ unpacked under ``cache_parent/<archive digest>``.

    Every file in ``files`` (``{"path", "sha256"}``) must match its digest; made once, then reused.
    """
    archive = source / ARCHIVE
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()[:16]
    target = cache_parent / digest
    if (target / ".verified").exists():
        return target
    staging = Path(tempfile.mkdtemp(prefix=".unpack-", dir=str(_ensure(target.parent))))
    try:
        with tarfile.open(archive, mode="r:xz") as tar:
            for member in tar.getmembers():
                if member.name.startswith(("/", "..")) or ".." in Path(member.name).parts:
                    raise FixtureError(f"{archive} holds an unsafe path: {member.name}")
            tar.extractall(staging)
        for entry in files:
            data = (staging / entry["path"]).read_bytes()
            if hashlib.sha256(data).hexdigest() != entry["sha256"]:
                raise FixtureError(f"{label}/{entry['path']} does not match its sha256 in the manifest")
        shutil.copytree(source / "reference", staging / "reference")
        shutil.copy2(source / "manifest.json", staging / "manifest.json")
        (staging / ".verified").write_text(digest)
        try:
            staging.rename(target)
        except OSError:
            # Another consumer run (``tox p``) unpacked the same archive first: use theirs.
            if not (target / ".verified").exists():
                raise
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return target


def _ensure(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def reference_embeddings(folder: Path, manifest: dict) -> dict[str, np.ndarray]:
    return {variant: np.load(folder / rel) for variant, rel in manifest["reference"]["embeddings"].items()}


def generate(env: catalog.Environment, log=print) -> Path:
    """Regenerate ``fixtures/<env.id>`` from the environment's lock."""
    started = time.time()
    with tempfile.TemporaryDirectory(prefix=f"gen-{env.id}-") as tmp:
        raw = Path(tmp) / "raw"
        run_generator(env, raw)
        FIXTURES_DIR.mkdir(exist_ok=True)
        pack(raw, fixture_dir(env.id))
    manifest = load_manifest(env.id)
    log(
        f"[compat] {env.id}: {len(manifest['fixtures'])} fixtures, "
        f"{len(manifest['not_written'])} formats not writable, "
        f"{tree_bytes(fixture_dir(env.id)) / 1e6:.2f} MB, {time.time() - started:.0f}s"
    )
    return fixture_dir(env.id)


def _manifest_text(manifest: dict) -> str:
    """A manifest as the generator writes it (``compat.inside.generate``), byte for byte."""
    return json.dumps(manifest, indent=1, sort_keys=True) + "\n"


def _variants(manifest: dict) -> set[str]:
    return {f["variant"] for f in manifest["fixtures"]} | {n["variant"] for n in manifest["not_written"]}


def add_variants(env: catalog.Environment, variants: list[str], log=print) -> Path:
    """Generate only ``variants`` in ``env`` and add them to its committed set.

    Every file already in the set stays byte for byte, and so does every manifest entry:
    recorded attempts are keyed by their fixture's files (``compat.records.attemptkey``), so
    regenerating the whole set would make every one of them stale. The new files come from
    the same stack as the set (same versions, same input batch), or nothing is written. The
    manifest keeps its provenance and says, under ``additions``, when and where the added
    variants were made.
    """
    started = time.time()
    committed = load_manifest(env.id)
    present = sorted(set(variants) & _variants(committed))
    if present:
        raise FixtureError(
            f"{env.id} already holds {', '.join(present)}: `compat gen {env.id}` regenerates the whole set"
        )
    source = unpacked(env.id)
    with tempfile.TemporaryDirectory(prefix=f"add-{env.id}-") as tmp:
        fresh_dir, merged = Path(tmp) / "fresh", Path(tmp) / "merged"
        run_generator(env, fresh_dir, committed["size"], variants)
        fresh = json.loads((fresh_dir / "manifest.json").read_text())
        _same_stack(env.id, committed, fresh, source, fresh_dir)
        old_files, new_files = _model_files(committed), _model_files(fresh)
        clash = sorted(set(old_files) & set(new_files))
        if clash:
            raise FixtureError(f"{env.id}: the added variants would overwrite {', '.join(clash)}")
        shutil.copytree(fixture_dir(env.id) / "reference", merged / "reference")
        for folder, files in ((source, old_files), (fresh_dir, new_files)):
            for rel in files:
                (merged / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(folder / rel, merged / rel)
        for rel in fresh["reference"]["embeddings"].values():
            shutil.copyfile(fresh_dir / rel, merged / rel)
        manifest = _merged(committed, fresh, variants)
        (merged / "manifest.json").write_text(_manifest_text(manifest))
        pack(merged, fixture_dir(env.id))
    log(
        f"[compat] {env.id}: added {', '.join(variants)}: "
        f"{len(fresh['fixtures'])} fixtures, {len(fresh['not_written'])} formats not writable, "
        f"{tree_bytes(fixture_dir(env.id)) / 1e6:.2f} MB, {time.time() - started:.0f}s"
    )
    return fixture_dir(env.id)


def _same_stack(producer: str, committed: dict, fresh: dict, source: Path, fresh_dir: Path) -> None:
    """Refuse files the committed set's provenance would not describe."""
    for key in ("keras_api", "versions", "size", "seed"):
        if committed.get(key) != fresh.get(key):
            raise FixtureError(
                f"{producer}: the environment's {key} ({fresh.get(key)}) is not the set's ({committed.get(key)}); "
                f"regenerate the whole set with `compat gen {producer}`"
            )
    old = np.load(source / committed["reference"]["input"])["images"]
    new = np.load(fresh_dir / fresh["reference"]["input"])["images"]
    if not np.array_equal(old, new):
        raise FixtureError(f"{producer}: the generator's input batch is not the set's")


def _merged(committed: dict, fresh: dict, variants: list[str]) -> dict:
    manifest = json.loads(json.dumps(committed))
    manifest["fixtures"] += fresh["fixtures"]
    manifest["not_written"] += fresh["not_written"]
    manifest["reference"]["embeddings"].update(fresh["reference"]["embeddings"])
    manifest.setdefault("additions", []).append(
        {"variants": list(variants), "created": fresh["created"], "platform": fresh["platform"]}
    )
    return manifest


def check(env: catalog.Environment, log=print) -> list[str]:
    """Regenerate into a temporary folder; the reference embeddings must equal the committed ones."""
    committed_manifest = load_manifest(env.id)
    committed = reference_embeddings(fixture_dir(env.id), committed_manifest)
    problems = []
    with tempfile.TemporaryDirectory(prefix=f"check-{env.id}-") as tmp:
        raw = Path(tmp) / "raw"
        run_generator(env, raw)
        fresh_manifest = json.loads((raw / "manifest.json").read_text())
        fresh = reference_embeddings(raw, fresh_manifest)
        committed_input = np.load(fixture_dir(env.id) / committed_manifest["reference"]["input"])["images"]
        fresh_input = np.load(raw / fresh_manifest["reference"]["input"])["images"]
        if not np.array_equal(committed_input, fresh_input):
            problems.append("the reference input batch differs")
    for variant in sorted(set(committed) | set(fresh)):
        if variant not in committed or variant not in fresh:
            problems.append(f"{variant}: present in only one of committed / regenerated")
            continue
        expected = committed[variant].astype(np.float64)
        diff = float(np.max(np.abs(expected - fresh[variant])))
        limit = (TRAINED_TOLERANCE if variant in TRAINED_VARIANTS else CHECK_TOLERANCE) * max(
            1.0, float(np.max(np.abs(expected)))
        )
        status = "ok" if diff <= limit else "DIFFERS"
        log(f"[compat] {env.id} {variant}: max |committed - regenerated| = {diff:.3g}, limit {limit:.3g} ({status})")
        if diff > limit:
            problems.append(f"{variant}: max abs difference {diff:.3g} > {limit:.3g}")
    committed_ids = {f["id"] for f in committed_manifest["fixtures"]}
    fresh_ids = {f["id"] for f in fresh_manifest["fixtures"]}
    if committed_ids != fresh_ids:
        problems.append(f"fixture lists differ: {sorted(committed_ids ^ fresh_ids)}")
    return problems


def tree_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
