"""Every result row a benchmark writes records what made it: package versions, the machine (CPU
model, count and the widest vector ISA, which decides XLA:CPU's rounding), the accelerator and
the commit. A CSV merged from several runs (``--only``) keeps each older row's own record."""

import re
import subprocess

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks import _common


def test_run_record_names_the_packages_machine_device_and_commit():
    rec = _common.run_record()
    assert set(rec) == {"versions", "machine", "device", "commit"}
    assert f"jax {jax.__version__}" in rec["versions"]
    assert re.search(r"jaxlib \S+", rec["versions"]) and re.search(r"brax \S+", rec["versions"])
    assert re.search(r"\b\d+ CPUs?\b", rec["machine"])
    assert re.search(r"\b(avx512f|avx2|avx|sse4_2|neon|none seen)\b", rec["machine"]), rec
    assert rec["device"].startswith(jax.default_backend())
    assert str(jax.device_count()) in rec["device"]
    head = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], capture_output=True,
                          text=True, cwd=_common.RESULTS.parent).stdout.strip()
    assert rec["commit"].split("+")[0] == head  # "+changes": code edited since the commit


class _Counter:
    """A stand-in algorithm: its evaluation returns the number of steps taken."""

    def init(self, key):
        return jnp.float32(0.0)

    def step(self, state, key):
        return state + 1.0, {}

    def evaluate(self, state, key, num_tasks=None, num_repeats=1):
        return {"pre_mean": state, "post_mean": state + 0.5}


def test_train_curve_rows_carry_the_run_record():
    from benchmarks.reproduce._curves import train_curve

    rows, _ = train_curve(_Counter(), seeds=2, steps=4, chunk=2, method="x")
    assert [r["step"] for r in rows] == [0, 0, 2, 2, 4, 4]
    np.testing.assert_allclose([r["test_post"] for r in rows], [0.5, 0.5, 2.5, 2.5, 4.5, 4.5])
    for r in rows:
        assert {k: r[k] for k in _common.run_record()} == _common.run_record()


def test_merged_csv_keeps_each_older_rows_own_record(tmp_path):
    """An older row (no record, or another machine's) keeps what it had when a new run's rows
    are written beside it."""
    path = tmp_path / "r.csv"
    old = [{"policy": "L", "x": "1"},
           {"policy": "H", "x": "2", "versions": "jax 0.4.0", "machine": "other", "device":
            "gpu x1", "commit": "abc"}]
    _common.write_csv(old, path)
    kept = _common.rows_kept(path, lambda r: r["policy"], {"HH"})
    new = [_common.stamped({"policy": "HH", "x": "3"})]
    _common.write_csv(kept + new, path)
    import csv

    got = list(csv.DictReader(open(path)))
    assert got[0]["versions"] == "" and got[0]["commit"] == ""
    assert got[1]["versions"] == "jax 0.4.0" and got[1]["device"] == "gpu x1"
    assert got[2]["versions"] == _common.run_record()["versions"]



def test_results_runtimes_say_what_machine_ran_each_script(tmp_path, monkeypatch):
    """RESULTS.md's runtimes name the machine and versions recorded in the rows (a wall time
    is only read beside them); rows from before the record say nothing."""
    from benchmarks.reproduce import report, verdicts

    monkeypatch.setattr(verdicts, "RESULTS", tmp_path)
    monkeypatch.setattr(report, "RESULTS", tmp_path)
    rec = {"versions": "jax 0.10.2, jaxlib 0.10.2, brax 0.14.2, mujoco 4.0.1, mujoco-mjx 3.17.0",
           "machine": "AMD EPYC, 2 CPUs, avx2", "device": "cpu x1", "commit": "dee3d39530e2"}
    rows = [{"method": m, "seed": s, "step": 0, "wall_s": w, **rec}
            for m, w in (("ES-MAML", 60.0), ("PG-MAML TRPO", 120.0)) for s in (0, 1)]
    _common.write_csv(rows, tmp_path / "pg_vs_es_x.csv")
    _common.write_csv([{"method": "ES-MAML", "seed": 0, "step": 0, "wall_s": 30.0}],
                      tmp_path / "pg_vs_es_y.csv")
    x, y = report.runtimes()
    assert x.startswith("- `python -m benchmarks.reproduce.pg_vs_es` (pg_vs_es_x): 3.0 min")
    assert "AMD EPYC, 2 CPUs, avx2; cpu x1; jax 0.10.2, brax 0.14.2; commit dee3d39530e2" in x
    assert y == "- `python -m benchmarks.reproduce.pg_vs_es` (pg_vs_es_y): 0.5 min (ES-MAML 0.5)"
