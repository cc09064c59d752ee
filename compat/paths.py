"""Where the project's own folders are: its root, and the cache that runs share."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def cache_root() -> Path:
    """Unpacked fixtures, worker logs, JAX's compilation cache (``$COMPAT_CACHE_DIR`` overrides)."""
    return Path(os.environ.get("COMPAT_CACHE_DIR", PROJECT_ROOT / ".cache"))


PUBLISHED_MATRIX = PROJECT_ROOT / "reports" / "matrix.json"
"""The committed matrix: what ``compat report`` updates and what runs skip the recorded attempts of."""

ARCHITECTURE = Path(__file__).resolve().parent / "inside" / "facenet_arch.py"
"""The architecture file weights-level recipes import: written beside them, embedded in the page."""

TRANSLATOR = Path(__file__).resolve().parent / "inside" / "translate.py"
"""The translator the translate recipes import: standalone, written beside them, embedded in the page."""

COMPANIONS = (ARCHITECTURE, TRANSLATOR)
"""The project's files a recipe may import from beside itself (``import facenet_arch``, ``import translate``)."""
