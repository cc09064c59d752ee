"""tox's environment names and labels, read from the catalog when tox starts.

tox.ini holds only what is the same for every name (the ``[testenv]`` that runs
``compat run-named {env_name}``) and the small default; the names themselves come from
``compat.environments.frontends``, so adding an environment to the catalog adds its tox environments.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tox.config.loader.memory import MemoryLoader
from tox.config.types import EnvList
from tox.plugin import impl

# tox imports this file with the project root on sys.path, so this is the project's own package.
from compat.environments import frontends

if TYPE_CHECKING:
    from collections.abc import Iterable

    from tox.config.sets import ConfigSet
    from tox.session.state import State


@impl
def tox_extend_envs() -> Iterable[str]:
    return frontends.env_names()


@impl
def tox_add_core_config(core_conf: ConfigSet, state: State) -> None:
    # Appended after tox.ini's own loader, so a `labels` written in tox.ini would still win.
    core_conf.loaders.append(
        MemoryLoader(
            labels={
                "load": EnvList(frontends.load_all_names()),
                "gen": EnvList(frontends.gen_names()),
            }
        )
    )
    for name in frontends.env_names():
        state.conf.memory_seed_loaders[name].append(MemoryLoader(description=frontends.describe(name)))
