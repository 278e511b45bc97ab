"""The whole reproduction campaign in one command, then benchmarks/RESULTS.md and the README's
tables regenerated from what it wrote:

    python -m benchmarks.reproduce            # the committed runs (hours here; each part timed)
    python -m benchmarks.reproduce --tiny     # seconds per part, into a scratch folder
    python -m benchmarks.reproduce --only pg_vs_es --only cartpole
    python -m benchmarks.reproduce --scale paper   # the paper's settings (an accelerator's job)

Parts (each is also a script of its own, with its own flags; PARTS below lists the exact
arguments of the runs behind benchmarks/results/): the exploration experiments (Sec. 4.1, A.4),
ES-MAML vs PG-MAML on four corners, navigation_2d, biased CartPole, halfcheetah at low K
(forward-backward and goal-velocity), swimmer, walker2d and ant (forward-backward; Fig. 1a,
A4, Fig. 4, Fig. 5; Fig. A5 at K 20), CartPole L/H/HH (Fig. 4), locomotion (Fig. 3), six
circles at the paper's scale (Fig. 2), sine along a longer run (A.6), noise robustness of MC
vs RBO (A.3.3). With --tiny the results
go to a temporary folder and RESULTS.md is left alone. With --scale paper every part runs at the
paper's stated settings (P 150, 3+ seeds, horizon 200; `parts.paper_scale_args`) on fresh seeds;
RESULTS.md then labels and judges those rows at the paper's settings, read from the CSVs.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from benchmarks.reproduce.parts import PARTS, paper_scale_args


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tiny", action="store_true")
    p.add_argument("--only", action="append", default=None,
                   help="run the parts whose name contains this text (repeatable)")
    p.add_argument("--scale", choices=("committed", "paper"), default="committed",
                   help="committed: the runs behind benchmarks/results (default); paper: every "
                        "part at the paper's stated settings, fresh seeds")
    args = p.parse_args(argv)
    if args.tiny and args.scale == "paper":
        p.error("--tiny and --scale paper contradict each other")
    import importlib

    parts = [x for x in PARTS if not args.only or any(o in x[0] for o in args.only)]
    if not parts:
        raise SystemExit(f"no part matches {args.only}; parts: {[x[0] for x in PARTS]}")
    scratch = Path(tempfile.mkdtemp(prefix="reproduce-")) if args.tiny else None
    times = []
    for name, module, always, scale in parts:
        argv_part = always + (paper_scale_args(module, always, scale) if args.scale == "paper"
                              else scale)
        if scratch is not None:
            argv_part = always + ["--tiny", "--out",
                                  str(scratch / f"{name.replace(' ', '_')}.csv")]
        package = ("benchmarks" if module in ("operators", "sine", "first_order") else
                   "benchmarks.reproduce")
        print(f"== {name}: python -m {package}.{module} {' '.join(argv_part)}", flush=True)
        t0 = time.perf_counter()
        importlib.import_module(f"{package}.{module}").main(argv_part)
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
