"""Bias of the FO-Hessian meta-gradient (Alg. 5) with independent vs shared Hessian samples.

Quadratic task family f_T(theta) = -0.5 |theta - c_T|^2 + offset (curvature -I, so the exact
meta-gradient is (1 - alpha) grad f~_T(theta') and autodiff gives it), theta = 0, K = K_H = 20,
sigma 0.1, alpha 0.05, 2 tasks, 20000 keys per row. Two measurements per sampling mode:

- raw returns: the mean step against the exact meta-gradient (max |z| over coordinates) at
  offsets 0, +10, -10 (an offset must change nothing);
- the step along the true gradient divided by FO-NoHessian's (E[(I + alpha H) d2] . u /
  E[d2] . u): exactly 1 - alpha = 0.95 with raw returns; also reported under z-scoring.

Writes benchmarks/results/fo_bias.csv. About a minute here.

    python -m benchmarks.fo_bias
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax

import esmaml_jax as ej
from benchmarks._common import RESULTS, stamped, write_csv

ALPHA, SIGMA, KEYS = 0.05, 0.1, 20000


def mean_step(dim, offset, hessian, samples, shaping, estimator="mc"):
    centers = jax.random.normal(jax.random.PRNGKey(dim), (2, dim))
    f = lambda p, c, key: -0.5 * jnp.sum((p - c) ** 2) + offset
    obj = ej.blackbox_objective(f, jnp.zeros(dim), lambda k, n: jnp.tile(centers, (n // 2, 1)))
    algo = ej.first_order(obj, num_tasks=2, num_queries=20, sigma=SIGMA, step_size=ALPHA,
                          hessian=hessian, hessian_estimator=estimator, hessian_samples=samples,
                          shaping=getattr(ej.shaping, shaping), optimizer=optax.sgd(1.0))
    state = algo.init(jax.random.PRNGKey(0))
    steps = np.asarray(ej.jit(jax.vmap(lambda k: algo.step(state, k)[0].params))(
        jax.random.split(jax.random.PRNGKey(1), KEYS)))
    # exact: (1 - alpha) * mean_T (c_T - theta') with theta' = alpha c_T (theta = 0)
    exact = (1 - ALPHA) * np.asarray(jnp.mean(centers * (1 - ALPHA), axis=0))
    return steps.mean(0), steps.std(0) / np.sqrt(KEYS), exact


def main() -> None:
    rows = []
    for dim in (6, 162):
        for samples in ("independent", "shared"):
            for estimator in ("mc", "antithetic"):
                row = {"D": dim, "hessian_samples": samples, "hessian_estimator": estimator}
                for offset in (0.0, 10.0, -10.0):
                    m, se, exact = mean_step(dim, offset, True, samples, "none", estimator)
                    row[f"raw_max_z_offset{offset:+.0f}"] = round(float(np.max(
                        np.abs(m - exact) / se)), 1)
                u = exact / np.linalg.norm(exact)
                for shaping in ("none", "zscore"):
                    m, _, _ = mean_step(dim, 0.0, True, samples, shaping, estimator)
                    m0, _, _ = mean_step(dim, 0.0, False, samples, shaping, estimator)
                    row[f"ratio_along_gradient_{shaping}"] = round(float((m @ u) / (m0 @ u)), 3)
                rows.append(stamped(row))
                print(row, flush=True)
    write_csv(rows, RESULTS / "fo_bias.csv")


if __name__ == "__main__":
    main()
