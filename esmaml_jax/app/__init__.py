"""The APP around the library: names, files, jit and the host loop live here and nowhere else.

- `registry`: one table of named components (env, policy, adaptation, algorithm, optimizer).
- `config`: the nested, typed run configuration (one block per component).
- `build`: config -> (family, algorithm, resolved config), shared by the CLI and `train`.
- `rundir`, `progress`, `loop`: the run directory and checkpoints, the progress line, the host
  loop; `cli`: the `esmaml` command.
"""

from esmaml_jax.app.build import Built, build
from esmaml_jax.app.config import Component, Config, RunSettings, load_config
from esmaml_jax.app.loop import load_run, train

__all__ = ["Built", "Component", "Config", "RunSettings", "build", "load_config", "load_run",
           "train"]
