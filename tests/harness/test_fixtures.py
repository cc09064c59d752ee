"""The committed fixture sets: complete, within budget, verified, reproducible."""

from __future__ import annotations

import json

import numpy as np
import pytest

from compat import catalog
from compat.harness import fixtures
from compat.paths import PROJECT_ROOT

REQUIRED_VERSIONS = ("python", "tensorflow", "keras", "h5py", "numpy")


@pytest.mark.parametrize("producer", [env.id for env in catalog.producers()])
def test_every_producer_has_a_manifest_with_provenance(producer):
    manifest = fixtures.load_manifest(producer)
    assert manifest["producer"] == producer
    for key in REQUIRED_VERSIONS:
        assert key in manifest["versions"]
    assert manifest["platform"] and manifest["created"]
    assert manifest["fixtures"], "a producer with no fixtures"
    for fixture in manifest["fixtures"]:
        assert fixture["files"] and all(len(f["sha256"]) == 64 and f["bytes"] > 0 for f in fixture["files"])
    for skipped in manifest["not_written"]:
        assert skipped["reason"]
    ids = {f["id"] for f in manifest["fixtures"]}
    assert {"lambda-h5", "builtin-h5", "custom-h5", "compiled-h5"} <= ids
    for path in manifest["reference"]["embeddings"].values():
        embeddings = np.load(fixtures.fixture_dir(producer) / path)
        assert embeddings.shape == (3, 128) and np.all(np.isfinite(embeddings))


def test_fixtures_stay_within_budget():
    total = fixtures.tree_bytes(fixtures.FIXTURES_DIR)
    assert total < 40 * 1024 * 1024, f"fixtures/ holds {total / 1e6:.1f} MB"


def test_unpacking_verifies_every_file(tmp_path, monkeypatch):
    monkeypatch.setenv("COMPAT_CACHE_DIR", str(tmp_path))
    folder = fixtures.unpacked("keras212")
    manifest = json.loads((folder / "manifest.json").read_text())
    for fixture in manifest["fixtures"]:
        assert (folder / fixture["path"]).exists()


def test_a_tampered_archive_is_refused(tmp_path, monkeypatch):
    import shutil

    monkeypatch.setattr(fixtures, "FIXTURES_DIR", tmp_path / "fixtures")
    monkeypatch.setenv("COMPAT_CACHE_DIR", str(tmp_path / "cache"))
    shutil.copytree(PROJECT_ROOT / "fixtures" / "keras212", tmp_path / "fixtures" / "keras212")
    manifest_path = tmp_path / "fixtures" / "keras212" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["fixtures"][0]["files"][0]["sha256"] = "0" * 64
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(fixtures.FixtureError, match="sha256"):
        fixtures.unpacked("keras212")


def test_producers_agree_on_the_function_they_compute():
    # Same seeded weights everywhere: every producer's builtin reference is one function.
    first = np.load(fixtures.fixture_dir("keras212") / "reference" / "builtin.npy")
    for env in catalog.producers():
        other = np.load(fixtures.fixture_dir(env.id) / "reference" / "builtin.npy")
        assert np.max(np.abs(first - other)) < 1e-3 * np.max(np.abs(first)), env.id


@pytest.mark.envs
@pytest.mark.parametrize("producer", ["keras212", "tf221"])
def test_generation_is_deterministic(producer):
    assert fixtures.check(catalog.get(producer), log=lambda *_: None) == []
