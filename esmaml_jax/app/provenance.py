"""What code and packages a run is made with (light: no JAX import, so ``esmaml --version``
answers at once)."""

from __future__ import annotations

import os
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any


def package_versions(names) -> dict[str, str | None]:
    """{name: installed version, or None when the package is not installed}."""
    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def provenance() -> dict[str, Any]:
    """Package versions, the git commit of the code that runs (None outside a checkout) and the
    environment variables that change its numbers (the flat-batch layout, XLA's flags)."""
    versions = package_versions(("esmaml-jax", "jax", "jaxlib", "brax", "flax", "optax",
                                 "orbax-checkpoint"))
    commit = None
    try:
        proc = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=5, cwd=Path(__file__).resolve().parent)
        if proc.returncode == 0:
            commit = proc.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    environment = {name: os.environ.get(name) for name in ("XLA_FLAGS",)}
    return {"versions": versions, "git_commit": commit, "environment": environment}
