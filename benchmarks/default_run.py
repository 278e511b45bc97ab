"""Run `esmaml train` with no arguments (the README's default run) and record what it prints.

    python -m benchmarks.default_run

Writes benchmarks/results/default_run.json: the command's output lines (stdout and stderr as a
terminal would show them, progress as plain lines since the output is not a terminal), its
wall time, exit code, the machine's load and the package versions. `python -m
benchmarks.make_tables` puts an excerpt into README.md, so the README shows real output.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks._common import RESULTS


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        load = os.getloadavg()
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "esmaml_jax.app.cli", "train", "--out",
                               str(Path(tmp) / "run"), "--no-compile-cache"],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              timeout=3600)
        wall = time.perf_counter() - t0
        summary = json.loads((Path(tmp) / "run" / "summary.json").read_text())
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    from esmaml_jax.app.provenance import provenance

    out = {"command": "esmaml train", "exit_code": proc.returncode, "wall_s": round(wall, 1),
           "load_average_before": load, "cpu_count": os.cpu_count(),
           "versions": provenance()["versions"], "lines": lines,
           "final_test_post": summary["final_test_post"]}
    (RESULTS / "default_run.json").write_text(json.dumps(out, indent=1) + "\n")
    print("\n".join(lines))
    print(f"wrote {RESULTS / 'default_run.json'} ({wall:.1f} s)")


if __name__ == "__main__":
    main()
