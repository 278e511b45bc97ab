"""How far trained numbers move when XLA:CPU compiles for another instruction set.

XLA:CPU compiles for the processor it runs on: vector width and fused multiply-adds change the
rounding of the same program, so the parameters a run trains differ in their last bits from one
processor to another (issue 32). This script trains the recorded runs of
``tests/test_config.py`` (`RECORDED`) once per instruction-set cap (``XLA_FLAGS=
--xla_cpu_max_isa=...``; "native" sets none), each in a fresh process on one device, and writes
the largest difference from the native run: the measurement that the tests' tolerances rest on.

    python -m benchmarks.isa_drift               # -> benchmarks/results/isa_drift.json
    python -m benchmarks.isa_drift --record      # also rewrites tests/data/recorded_params.npz
    python -m benchmarks.isa_drift --only default sine
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from recorded_runs import DATA, RECORDED, RUN_FLAGS  # noqa: E402

from benchmarks._common import RESULTS  # noqa: E402

ISAS = ("native", "AVX512", "AVX2", "AVX", "SSE4_2")


def train(args: list[str], isa: str, out: Path) -> np.ndarray:
    env = dict(os.environ)
    flags = env.get("XLA_FLAGS", "")
    env["XLA_FLAGS"] = flags if isa == "native" else f"{flags} --xla_cpu_max_isa={isa}".strip()
    code = "import sys; from esmaml_jax.app.cli import main; sys.exit(main(sys.argv[1:]))"
    subprocess.run([sys.executable, "-c", code, "train", *args, *RUN_FLAGS, "--out", str(out)],
                   check=True, env=env, cwd=ROOT, timeout=1800)
    return np.load(out / "params.npy")


def cpu_flags() -> list[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    line = next((ln for ln in text.splitlines() if ln.startswith("flags")), "")
    wanted = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_bf16", "amx_tile")
    return [f for f in line.split(":")[-1].split() if f in wanted]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--only", nargs="*", choices=sorted(RECORDED), default=sorted(RECORDED))
    p.add_argument("--isas", nargs="*", default=list(ISAS), choices=ISAS)
    p.add_argument("--record", action="store_true",
                   help="store the native runs' parameters as the tests' reference arrays")
    p.add_argument("--out", default=str(RESULTS / "isa_drift.json"))
    a = p.parse_args(argv)
    rows, native = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in a.only:
            runs = {}
            for isa in a.isas:
                t0 = time.perf_counter()
                runs[isa] = train(RECORDED[name], isa, Path(tmp) / f"{name}-{isa}")
                print(f"{name:12s} {isa:7s} {time.perf_counter() - t0:6.1f} s", flush=True)
            if "native" not in runs:
                raise SystemExit("--isas must include native (the reference)")
            native[name] = ref = runs["native"]
            for isa, x in runs.items():
                diff = np.abs(x.astype(np.float64) - ref)
                rows.append({"run": name, "isa": isa, "max_abs_diff": float(diff.max()),
                             "max_rel_diff": float((diff / np.maximum(np.abs(ref), 1e-6)).max()),
                             "max_abs_param": float(np.abs(ref).max()),
                             "bit_identical": bool(np.array_equal(x, ref))})
                print(f"  {isa:7s} max |diff| {rows[-1]['max_abs_diff']:.3g}", flush=True)
    import jax

    old = json.loads(Path(a.out).read_text())["rows"] if Path(a.out).exists() else []
    new_keys = {(r["run"], r["isa"]) for r in rows}
    rows = [r for r in old if (r["run"], r["isa"]) not in new_keys] + rows  # re-measured: new
    result = {"rows": rows, "machine": platform.processor() or platform.machine(),
              "cpu_flags": cpu_flags(), "jax": jax.__version__, "args": RECORDED}
    Path(a.out).write_text(json.dumps(result, indent=1) + "\n")
    if a.record:
        old = dict(np.load(DATA)) if DATA.exists() else {}
        np.savez(DATA, **{**old, **native})
        print(f"wrote {DATA}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
