"""Helpers shared by the benchmark scripts."""

from __future__ import annotations

import csv
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def write_csv(rows: list[dict], path: str | Path) -> None:
    """Write result rows (dicts with the same keys) to ``path``, creating its folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
