"""The tracked files of this work tree, copied as a fresh clone would have them.

What a new user starts from: no results files, no unpacked fixtures, no environments.
The bench's no-change re-run and the first-use tests run the real command in such a copy.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from compat.paths import PROJECT_ROOT


def tracked_copy(target: Path, drop: tuple[str, ...] = (), root: Path = PROJECT_ROOT) -> Path:
    """Copy every tracked file of ``root`` but ``drop`` (paths as git lists them) into ``target``."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=str(root), capture_output=True, check=True).stdout
    for name in filter(None, listed.decode().split("\0")):
        source = Path(root) / name
        if source.is_file() and name not in drop:
            destination = Path(target) / name
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination)
    return Path(target)
