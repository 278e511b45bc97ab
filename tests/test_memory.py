"""Choosing a perturbation chunk size that fits a memory budget."""

import numpy as np
import pytest

from esmaml_jax.app import Config, memory, train


def linear_program(fixed, per, num_p, calls):
    def program_bytes(chunk):
        calls.append(chunk)
        return fixed + per * (num_p if chunk is None else chunk)
    return program_bytes


def test_cheap_estimate_under_budget_compiles_nothing():
    calls = []
    chunk, why = memory.pick_chunk_size(100, linear_program(0, 10, 100, calls), budget=10_000,
                                        estimate=5_000)
    assert chunk is None and calls == [] and "whole" in why


def test_whole_axis_when_the_program_fits():
    calls = []
    chunk, _ = memory.pick_chunk_size(100, linear_program(100, 10, 100, calls), budget=2_000,
                                      estimate=50_000)
    assert chunk is None and calls == [None]


def test_largest_fitting_chunk_is_picked_and_checked():
    calls = []
    # whole axis: 1000 + 100 * 200 = 21000 bytes; budget 6000 -> chunk <= 50 fits.
    chunk, why = memory.pick_chunk_size(200, linear_program(1000, 100, 200, calls), budget=6000)
    assert chunk is not None and 1000 + 100 * chunk <= 6000
    assert chunk >= 40  # not needlessly small (the first guess, 6000/21000*200 = 57, halves once)
    assert calls[0] is None and calls[-1] == chunk
    assert "chunks of" in why and "still over" not in why


def test_budget_below_the_fixed_part_says_so():
    chunk, why = memory.pick_chunk_size(8, linear_program(1000, 100, 8, []), budget=500)
    assert chunk == 1 and "still over the budget" in why


def test_available_bytes_is_positive():
    assert memory.available_bytes() > 0


TINY = Config.from_json({"env": {"name": "four_corners"}, "objective": {"horizon": 10},
                         "algorithm": {"name": "zero_order", "num_perturbations": 8},
                         "adaptation": {"name": "es_gradient", "num_queries": 2},
                         "policy": {"name": "linear"},
                         "run": {"num_steps": 4, "steps_per_chunk": 2, "eval_repeats": 1}})


@pytest.mark.slow
def test_train_chunks_under_a_small_budget_with_the_same_numbers(tmp_path):
    logs = {}
    for name, budget in (("roomy", 2**30), ("tight", 6_000)):
        logs[name] = []
        train(TINY, tmp_path / name, progress=False, log=logs[name].append,
              memory_budget=budget)
    roomy = [m for m in logs["roomy"] if "memory:" in m]
    tight = [m for m in logs["tight"] if "memory:" in m]
    assert roomy and "whole" in roomy[0]
    assert tight and "chunks of" in tight[0], tight
    np.testing.assert_allclose(np.load(tmp_path / "tight" / "params.npy"),
                               np.load(tmp_path / "roomy" / "params.npy"), rtol=1e-5, atol=1e-6)


def test_bad_budget(tmp_path):
    with pytest.raises(ValueError, match="memory budget"):
        train(TINY, tmp_path / "r", progress=False, log=lambda *a: None, memory_budget=0)
