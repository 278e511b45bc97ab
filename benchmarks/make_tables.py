"""Regenerate the README's result tables from benchmarks/results/*.csv (never typed by hand).

    python benchmarks/make_tables.py
"""

from __future__ import annotations

import csv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- operators-table:begin -->", "<!-- operators-table:end -->"


def operators_table() -> str:
    rows = list(csv.DictReader(open(ROOT / "benchmarks" / "results" / "operators.csv")))
    r0 = rows[0]
    lines = [f"four_corners, MLP(32), P = {r0['perturbations']} antithetic, {r0['steps']} "
             f"meta-steps, {r0['seeds']} seeds (mean +- std over seeds of the post-adaptation "
             f"test return; the untrained meta-policy scores -400 before and about -330 after "
             f"adaptation). Made by `python benchmarks/operators.py`.", "",
             "| operator | K | queries per adaptation | post-adaptation return | "
             "meta-steps/s (2 seeds) |", "|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['operator']} | {r['K']} | {r['queries_per_adaptation']} | "
                     f"{r['post_mean']} +- {r['post_std_seeds']} | {r['meta_steps_per_s']} |")
    return "\n".join(lines)


def main() -> None:
    readme = ROOT / "README.md"
    text = readme.read_text()
    start, stop = text.index(BEGIN) + len(BEGIN), text.index(END)
    readme.write_text(text[:start] + "\n" + operators_table() + "\n" + text[stop:])


if __name__ == "__main__":
    main()
