"""The whole reproduction campaign in one command, then benchmarks/RESULTS.md and the README's
tables regenerated from what it wrote:

    python -m benchmarks.reproduce            # CPU scale (hours here; each part's time printed)
    python -m benchmarks.reproduce --tiny     # seconds per part, into a scratch folder
    python -m benchmarks.reproduce --only pg_vs_es --only cartpole

Parts (each is also a script of its own, with its own flags): the exploration experiments
(Sec. 4.1, A.4), ES-MAML vs PG-MAML on four corners, navigation_2d and biased CartPole (Fig. 1a,
A4, Fig. 4), CartPole L/H/HH (Fig. 4), locomotion (Fig. 3). With --tiny the results go to a
temporary folder and RESULTS.md is left alone.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

PG = ["--seeds", "5", "--steps", "200"]
# (name, module, arguments always given, arguments at CPU scale only)
PARTS = [
    ("exploration", "exploration", [], []),
    ("pg_vs_es four_corners", "pg_vs_es", ["--env", "four_corners"], PG),
    ("pg_vs_es navigation_2d", "pg_vs_es", ["--env", "navigation_2d"], PG),
    ("pg_vs_es biased_cartpole", "pg_vs_es", ["--env", "biased_cartpole", "--policy", "linear"],
     PG),
    ("cartpole", "cartpole", [], []),
    ("locomotion", "locomotion", [], []),
]


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tiny", action="store_true")
    p.add_argument("--only", action="append", default=None,
                   help="run the parts whose name contains this text (repeatable)")
    args = p.parse_args(argv)
    import importlib

    parts = [x for x in PARTS if not args.only or any(o in x[0] for o in args.only)]
    if not parts:
        raise SystemExit(f"no part matches {args.only}; parts: {[x[0] for x in PARTS]}")
    scratch = Path(tempfile.mkdtemp(prefix="reproduce-")) if args.tiny else None
    times = []
    for name, module, always, scale in parts:
        argv_part = always + scale
        if scratch is not None:
            argv_part = always + ["--tiny", "--out",
                                  str(scratch / f"{name.replace(' ', '_')}.csv")]
        print(f"== {name}: python -m benchmarks.reproduce.{module} {' '.join(argv_part)}",
              flush=True)
        t0 = time.perf_counter()
        importlib.import_module(f"benchmarks.reproduce.{module}").main(argv_part)
        times.append((name, time.perf_counter() - t0))
    print("\nruntime of each part here:")
    for name, t in times:
        print(f"  {name}: {t / 60:.1f} min")
    if scratch is None:
        from benchmarks import make_tables
        from benchmarks.reproduce import results

        results.main()
        make_tables.main()
        print("wrote benchmarks/RESULTS.md and the README's tables")
    else:
        print(f"(--tiny: results in {scratch}; RESULTS.md untouched)")


if __name__ == "__main__":
    main()
