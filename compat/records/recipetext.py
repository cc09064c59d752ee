"""The lines of a recipe that name its files, and the rest, which fixtures share.

A recipe names the files it loads on ``MODEL_PATH = "..."`` and ``WEIGHTS_PATH = "..."``
lines, the one place a user edits. Recipes that differ only there are the same recipe:
the recipe check runs each such template once, and ``matrix.json`` stores each once.
"""

from __future__ import annotations

import re

PATH_LINE = re.compile(r'^(?P<name>MODEL_PATH|WEIGHTS_PATH) = (?P<value>".*")$', re.MULTILINE)
BLANK = '"..."'


def normalized(text: str) -> str:
    """The recipe with its path lines blanked: what stays the same between fixtures."""
    return PATH_LINE.sub(lambda m: f"{m['name']} = {BLANK}", text)


def split(text: str) -> tuple[str, list[str]]:
    """``(template, values)``: ``join`` gives the text back exactly."""
    return normalized(text), [m["value"] for m in PATH_LINE.finditer(text)]


def join(template: str, values: list[str]) -> str:
    remaining = iter(values)
    return PATH_LINE.sub(lambda m: f"{m['name']} = {next(remaining)}", template)
