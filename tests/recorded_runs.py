"""The recorded runs: parameters trained here once, stored as arrays (tests/data), and compared
with a tolerance measured across instruction sets (benchmarks/isa_drift.py), never by hash:
XLA:CPU compiles for the processor it runs on, so the last bits of trained numbers differ from
one machine to another."""

from pathlib import Path

DATA = Path(__file__).parent / "data" / "recorded_params.npz"

# Flags every recorded run adds (one device, no compile cache, quiet).
RUN_FLAGS = ["--quiet", "--no-compile-cache", "--cpu-devices", "1"]

RECORDED = {
    "default": ["--steps", "2", "--chunk", "2"],
    "sine": ["--env", "sine", "--steps", "2", "--chunk", "2", "-T", "2"],
    "first_order": ["--algorithm", "first_order", "--num-tasks", "4", "-K", "5", "--steps", "2",
                    "--chunk", "2"],
    "first_order_1": ["--algorithm", "first_order", "--num-tasks", "4", "-K", "5", "--steps",
                      "1", "--chunk", "1"],
    "brax": ["--env", "halfcheetah_forward_backward", "--horizon", "5", "-P", "2", "-K", "2",
             "--steps", "1", "--chunk", "1", "--eval-repeats", "1"],
}
