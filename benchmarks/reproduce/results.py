"""Write benchmarks/RESULTS.md: each paper claim, what we measured (from benchmarks/results/*),
and whether it reproduces. Verdicts are computed from the numbers by the rules of
`benchmarks.reproduce.verdicts` (`judge` is THE rule), never typed; the rows are made by the
claims modules beside the experiments (`claims_pg`, `claims_es`, `claims_runs`) and rendered by
`report` from its template.

    python -m benchmarks.reproduce.results
"""

from __future__ import annotations

from benchmarks.reproduce import report
from benchmarks.reproduce.claims_es import (
    asebo_claims,
    brax_first_order_claims,
    compact_claims,
    first_order_claims,
    four_corners_claims,
    navigation_claims,
    sine_claims,
    six_circles_claims,
)
from benchmarks.reproduce.claims_pg import _low_k_claims, _pg_meta, es_vs_pg_claims
from benchmarks.reproduce.claims_runs import (
    cartpole_claims,
    halfcheetah_run_claims,
    locomotion_claims,
    robustness_claims,
)
from benchmarks.reproduce.verdicts import (
    all_hold,
    compare,
    ex_cmd,
    first_failing,
    judge,
    load,
    positive,
    seed_areas,
    welch,
)

__all__ = ["_low_k_claims", "_pg_meta", "all_hold", "claims", "compare", "ex_cmd",
           "first_failing", "judge", "main", "positive", "robustness_claims", "seed_areas",
           "welch"]


def claims() -> list[tuple]:
    """Every row of RESULTS.md, in its order: (claim, measured, verdict, command)."""
    ex = load("exploration.csv")
    return (es_vs_pg_claims() + four_corners_claims(ex) + six_circles_claims(ex)
            + navigation_claims(ex) + asebo_claims() + first_order_claims()
            + brax_first_order_claims() + compact_claims() + sine_claims()
            + robustness_claims() + cartpole_claims() + locomotion_claims()
            + halfcheetah_run_claims())


def main() -> None:
    report.write(claims())


if __name__ == "__main__":
    main()
