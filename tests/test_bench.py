"""The benchmark's own arithmetic (its figures come from real runs: ``python -m compat.bench``)."""
from __future__ import annotations

import os

from compat import bench


def test_tree_bytes_counts_hard_linked_files_once(tmp_path):
    (tmp_path / "a").mkdir()
    data = tmp_path / "a" / "wheel.so"
    data.write_bytes(b"x" * 100_000)
    os.link(data, tmp_path / "a" / "linked.so")  # uv links environments to its cache like this
    (tmp_path / "b.txt").write_bytes(b"y" * 10)
    one = bench.tree_bytes(tmp_path)
    assert 100_000 <= one < 100_000 + 3 * 8192
    (tmp_path / "copy.so").write_bytes(data.read_bytes())
    assert bench.tree_bytes(tmp_path) >= one + 100_000


def test_tree_bytes_of_nothing(tmp_path):
    assert bench.tree_bytes(tmp_path / "missing") == 0
