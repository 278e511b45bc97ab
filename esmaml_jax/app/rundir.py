"""The run directory: config.json, metrics.csv, checkpoints/, params.npy, summary.json.

A new run needs an empty (or new) directory; nothing of another run is ever overwritten.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from esmaml_jax.app.config import Config, load_config

FIELDS = ["step", "wall_time", "pre_return", "post_return", "test_pre", "test_post",
          "num_nonfinite", "skipped_updates", "env_steps"]


def prepare(out_dir: Path) -> None:
    """Create ``out_dir``; refuse one that already holds a run (nothing is overwritten)."""
    if out_dir.exists() and not out_dir.is_dir():
        raise NotADirectoryError(f"--out {out_dir} is a file, not a directory")
    if out_dir.exists() and any(out_dir.iterdir()):
        raise FileExistsError(f"output directory {out_dir} is not empty (it holds another run); "
                              f"choose another --out")
    out_dir.mkdir(parents=True, exist_ok=True)


def write_config(out_dir: Path, config: Config) -> None:
    (out_dir / "config.json").write_text(json.dumps(config.to_json(), indent=2) + "\n")


def read_config(out_dir: Path) -> Config:
    if not (out_dir / "config.json").exists():
        raise FileNotFoundError(f"{out_dir} holds no run (no config.json)")
    return load_config(out_dir / "config.json")


def truncate_metrics(path: Path, done: int) -> None:
    """Keep only the metric rows up to ``done`` (rows after the checkpoint are recomputed)."""
    if not path.exists():
        return
    rows = [r for r in csv.DictReader(open(path)) if int(r["step"]) <= done]
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(rows)


def write_summary(out_dir: Path, summary: dict) -> None:
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
