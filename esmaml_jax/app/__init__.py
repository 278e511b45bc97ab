"""The APP around the library: names, files, jit and the host loop live here and nowhere else.

- `registry`: one table of named components (env, policy, adaptation, algorithm, optimizer).
- `config`: the nested, typed run configuration (one block per component).
- `build`: config -> (family, algorithm, resolved config), shared by the CLI and `train`.
- `rundir`, `progress`, `loop`: the run directory and checkpoints, the progress line, the host
  loop; `cli`: the `esmaml` command.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from esmaml_jax.app.config import Component, Config, RunSettings, load_config

if TYPE_CHECKING:
    from esmaml_jax.app.build import Built, build
    from esmaml_jax.app.loop import load_run, train

# Loaded on first use: the config types are light, the build and the loop bring in JAX and the
# task families (Brax), which `esmaml --help` and `esmaml list` do not need.
_LAZY = {"Built": "esmaml_jax.app.build", "build": "esmaml_jax.app.build",
         "load_run": "esmaml_jax.app.loop", "train": "esmaml_jax.app.loop"}

__all__ = ["Built", "Component", "Config", "RunSettings", "build", "load_config", "load_run",
           "train"]


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'esmaml_jax.app' has no attribute {name!r}")
