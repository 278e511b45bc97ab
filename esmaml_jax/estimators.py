"""Perturbation samplers and Monte Carlo ES-gradient estimators (Sec. 3.1, Alg. 1).

The gradient of the Gaussian smoothing f~(theta) = E_g f(theta + sigma g) (Eq. 4) is estimated
from n directions g_i by one of:

- ``vanilla``     1/(n sigma) sum_i f(theta + sigma g_i) g_i                        (Alg. 1)
- ``forward_fd``  1/(n sigma) sum_i (f(theta + sigma g_i) - f(theta)) g_i
- ``antithetic``  1/(2 n sigma) sum_i (f(theta + sigma g_i) - f(theta - sigma g_i)) g_i

Values pass through fitness shaping first; directions whose value is non-finite are dropped and
the sum is divided by the number of valid directions. Query costs: vanilla n, forward_fd n + 1
(the centre), antithetic 2n.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from esmaml_jax import linalg
from esmaml_jax import shaping as shaping_lib
from esmaml_jax.types import Array, Key

Sampler = Callable[..., Array]  # (key, num, dim, sigma) -> [num, dim] directions


def gaussian(key: Key, num: int, dim: int, sigma: Array | None = None) -> Array:
    """i.i.d. N(0, I) directions: [num, dim] (``sigma`` unused: samplers share a signature)."""
    return jax.random.normal(key, (num, dim))


def orthogonal(key: Key, num: int, dim: int, sigma: Array | None = None) -> Array:
    """Orthogonal Gaussian directions (Choromanski et al., 2018): [num, dim].

    Blocks of up to ``dim`` exactly orthogonal directions (QR of a Gaussian matrix) whose lengths
    are redrawn from the chi distribution, so each direction is still marginally N(0, I) while
    directions within a block never overlap (lower-variance, QMC-style).
    """
    num_blocks = -(-num // dim)
    k_q, k_norm = jax.random.split(key)

    def block(k):
        q, r = linalg.qr(jax.random.normal(k, (dim, dim)))
        return (q * jnp.sign(jnp.diagonal(r))).T  # rows orthonormal, Haar-distributed

    rows = jax.vmap(block)(jax.random.split(k_q, num_blocks)).reshape(num_blocks * dim, dim)[:num]
    norms = jnp.linalg.norm(jax.random.normal(k_norm, (num, dim)), axis=-1, keepdims=True)
    return rows * norms


def rbf_kernel(x: Array, bandwidth_sq: float | Array) -> Array:
    """L_ij = exp(-|x_i - x_j|^2 / (2 h^2)): [M, M], L_ii = 1.

    The squared distances come from the Gram matrix, |x_i|^2 + |x_j|^2 - 2 x_i.x_j (one
    [M, D] x [D, M] product), not from the [M, M, D] array of pairwise differences: XLA:CPU
    fuses that array away only through YNNPACK's reduce fusions, which
    `esmaml_jax.compiler_options` turns off, and a vmapped DPP-ES meta-step holds one per
    sampled task and perturbation (a 10-seed DPP K 20 run on four corners: 21 GB, 4x slower;
    benchmarks/dpp_kernel.py). The float32 rounding of the difference is relative to |x|^2:
    measured against float64, at most 1.9e-6 of an entry for K 20's candidates at D 162 (the
    MLP(32) of four corners), 1.4e-5 at D 1000 (tests/test_operators.py).
    """
    sq_norm = jnp.sum(x * x, axis=-1)
    # HIGHEST: a TPU's (or a GPU's TF32) default f32 product would round x_i.x_j to bf16 or
    # TF32, an error of order |x|^2 * 1e-3 in each distance.
    gram = jnp.matmul(x, x.T, precision=jax.lax.Precision.HIGHEST)
    sq = sq_norm[:, None] + sq_norm[None, :] - 2.0 * gram
    sq = jnp.where(jnp.eye(x.shape[0], dtype=bool), 0.0, jnp.maximum(sq, 0.0))
    return jnp.exp(-sq / (2.0 * bandwidth_sq))


def sample_k_dpp(key: Key, kernel: Array, k: int) -> Array:
    """Exact k-DPP sample (Kulesza & Taskar, 2012, Alg. 8 + Alg. 1), fully inside jit.

    P(S) is proportional to det(L_S) over subsets of size k. Returns k distinct indices [k].
    Eigenvectors are chosen with elementary symmetric polynomials (in log space, so large
    kernels do not overflow float32); items are then drawn from the projection DPP by
    successive Schur-complement conditioning of its marginal kernel (fixed shapes, no QR).
    """
    m = kernel.shape[0]
    k_eig, k_items = jax.random.split(key)
    lam, vecs = linalg.eigh(kernel)
    log_lam = jnp.log(jnp.maximum(lam, 1e-30))
    # log E[l, n] = log e_l(lambda_1..lambda_n), l = 0..k, n = 0..m.
    def e_step(prev, ll):
        cur = jnp.concatenate([jnp.zeros(1), jnp.logaddexp(prev[1:], ll + prev[:-1])])
        return cur, cur
    e0 = jnp.concatenate([jnp.zeros(1), jnp.full(k, -jnp.inf)])
    _, rows = jax.lax.scan(e_step, e0, log_lam)
    log_e = jnp.concatenate([e0[None], rows]).T  # [k + 1, m + 1]

    def pick(carry, inp):
        remaining = carry
        n, u = inp  # n counts down from m to 1
        l_idx = jnp.maximum(remaining, 1)
        logp = log_lam[n - 1] + log_e[l_idx - 1, n - 1] - log_e[l_idx, n]
        take = (remaining > 0) & (jnp.log(u) < logp)
        return remaining - take.astype(jnp.int32), take

    us = jax.random.uniform(k_eig, (m,), minval=1e-12)
    _, taken = jax.lax.scan(pick, jnp.int32(k), (jnp.arange(m, 0, -1), us))
    mask = taken[::-1].astype(kernel.dtype)  # eigenvector n selected
    marginal = (vecs * mask) @ vecs.T  # projection DPP kernel of rank k

    def draw(carry, kk):
        kmat, chosen = carry
        p = jnp.where(chosen, 0.0, jnp.maximum(jnp.diagonal(kmat), 0.0))
        j = jax.random.categorical(kk, jnp.log(p + 1e-30))
        kmat = kmat - jnp.outer(kmat[:, j], kmat[j, :]) / jnp.maximum(kmat[j, j], 1e-12)
        return (kmat, chosen.at[j].set(True)), j

    _, items = jax.lax.scan(draw, (marginal, jnp.zeros(m, bool)), jax.random.split(k_items, k))
    return items


DPP_OVERSAMPLE = 5  # the reference's dpp_rho: candidates per chosen direction
DPP_BANDWIDTH = 0.5  # the reference's RBF kernel width, on sigma-scaled perturbations


def dpp(key: Key, num: int, dim: int, sigma: Array | float = 0.1, radial: str = "chi") -> Array:
    """DPP-ES directions (Sec. 3.3.1), as the authors' code chooses them: 5 * num Gaussian
    candidates, scaled by sigma, of which a k-DPP with the RBF kernel
    exp(-|sigma g_i - sigma g_j|^2 / (2 * 0.5^2)) keeps ``num`` spread-out ones: [num, dim].

    Unbiasedness: the chosen set is rotation-invariant in law, but the DPP prefers long
    candidates, so E[g g^T] = c I with c > 1 (c = 1.09 at D = 6, sigma = 0.1, K = 20; see
    tests), and the ES estimator would overestimate the gradient by c. ``radial="chi"`` (default)
    keeps the chosen DIRECTIONS and redraws their lengths from the chi(D) distribution of a
    Gaussian's norm, independently, so E[g g^T] = I exactly and the estimator stays unbiased
    (as for `orthogonal`). ``radial="selected"`` returns the chosen candidates as they are (the
    reference's form, biased by c).
    """
    if radial not in ("chi", "selected"):
        raise ValueError(f"unknown DPP radial mode {radial!r}; known: chi, selected")
    k_cand, k_dpp, k_norm = jax.random.split(key, 3)
    cand = jax.random.normal(k_cand, (DPP_OVERSAMPLE * num, dim))
    kernel = rbf_kernel(cand, (DPP_BANDWIDTH / sigma) ** 2)  # same as on sigma * cand
    chosen = cand[sample_k_dpp(k_dpp, kernel, num)]
    if radial == "selected":
        return chosen
    unit = chosen / jnp.maximum(jnp.linalg.norm(chosen, axis=-1, keepdims=True), 1e-30)
    return unit * jnp.linalg.norm(jax.random.normal(k_norm, (num, dim)), axis=-1, keepdims=True)


def dpp_reference(key: Key, num: int, dim: int, sigma: Array | float = 0.1) -> Array:
    """`dpp` with the chosen candidates as they are (the authors' code; E[g g^T] = c I, c > 1)."""
    return dpp(key, num, dim, sigma, radial="selected")


class Estimator(NamedTuple):
    """An ES-gradient estimator (Sec. 3.1) as data: ``signs`` evaluations per direction (2:
    the antithetic pair theta +- sigma g), whether it needs the centre f(theta), and its
    per-direction weights ``weights(shaped, valid, n) -> (w [n], ok [n])`` from the shaped
    values laid out as `estimate` documents."""
    name: str
    signs: int
    uses_center: bool
    weights: Callable[[Array, Array, int], tuple[Array, Array]]


vanilla = Estimator("vanilla", 1, False, lambda s, ok, n: (s[:n], ok[:n]))
forward_fd = Estimator("forward_fd", 1, True,
                       lambda s, ok, n: (s[:n] - s[n], ok[:n] & ok[n]))
antithetic = Estimator(
    "antithetic", 2, False,
    lambda s, ok, n: ((s[:n] - s[n:2 * n]) / 2.0, ok[:n] & ok[n:2 * n]))


def checked(estimator: Estimator, shaper: Callable = shaping_lib.none,
            sampler: Callable = gaussian) -> Estimator:
    """``estimator`` if it is an `Estimator` and ``shaper`` / ``sampler`` are callables, else a
    one-line TypeError; a name gets a pointer to the object to pass instead."""
    for what, value, ok, example in (
            ("estimator", estimator, isinstance(estimator, Estimator), "estimators.antithetic"),
            ("shaping", shaper, callable(shaper), "shaping.zscore"),
            ("sampler", sampler, callable(sampler), "estimators.gaussian")):
        if not ok:
            hint = f" (the object, e.g. {example}, not its name)" if isinstance(value, str) else ""
            kind = "an Estimator" if what == "estimator" else "a callable"
            raise TypeError(f"{what} must be {kind}{hint}, got {value!r}")
    return estimator


def num_directions(estimator: Estimator, num_queries: int) -> int:
    """Directions that ``num_queries`` evaluations buy (antithetic spends two per direction)."""
    if num_queries % estimator.signs:
        raise ValueError(f"the {estimator.name} estimator spends {estimator.signs} queries per "
                         f"direction: it needs an even number of queries, got {num_queries}")
    return num_queries // estimator.signs


def perturbed_points(theta: Array, eps: Array, sigma: Array, estimator: Estimator) -> Array:
    """theta + sigma eps: [n, D], or [2, n, D] (plus, minus) for antithetic."""
    plus = theta + sigma * eps
    if estimator.signs == 2:
        return jnp.stack([plus, theta - sigma * eps])
    return plus


def estimate(values: Array, eps: Array, sigma: Array, estimator: Estimator,
             shaper: shaping_lib.Shaper = shaping_lib.none,
             center: Array | None = None) -> tuple[Array, Array]:
    """ES-gradient estimate from evaluated perturbations.

    Args:
      values: [n] returns at theta + sigma eps_i, or [2, n] (plus, minus) for antithetic.
      eps: [n, D] directions.
      sigma: smoothing radius.
      estimator: `vanilla`, `forward_fd` or `antithetic` (an `Estimator`).
      shaper: fitness shaping applied to the values (with ``center`` appended when given, as the
        reference z-scores the current value together with the perturbed ones).
      center: f(theta), required by forward_fd.
    Returns:
      (gradient [D], number of valid directions [] int32).
    """
    n = eps.shape[0]
    if estimator.uses_center and center is None:
        raise ValueError(f"{estimator.name} needs the centre value f(theta)")
    flat = values.reshape(-1)
    if center is not None:
        flat = jnp.concatenate([flat, jnp.reshape(center, (1,))])
    shaped, valid = shaper(flat)
    weights, ok = estimator.weights(shaped, valid, n)
    weights = jnp.where(ok, weights, 0.0)
    num_valid = jnp.sum(ok)
    grad = weights @ eps / (jnp.maximum(num_valid, 1) * sigma)  # Alg. 1, line 3
    return grad, num_valid.astype(jnp.int32)


def es_gradient(key: Key, f: Callable[[Array], Array], theta: Array, num_directions: int,
                sigma: Array, estimator: Estimator = antithetic,
                shaper: shaping_lib.Shaper = shaping_lib.none,
                sampler: Sampler = gaussian) -> tuple[Array, Array]:
    """Alg. 1 end to end for a scalar function ``f([D]) -> []``: returns (gradient [D], valid)."""
    eps = sampler(key, num_directions, theta.shape[0], sigma)
    points = perturbed_points(theta, eps, sigma, estimator)
    values = jax.vmap(f)(points.reshape(-1, theta.shape[0])).reshape(points.shape[:-1])
    center = f(theta) if estimator.uses_center else None
    return estimate(values, eps, sigma, estimator, shaper, center)


def hessian_weights(values: Array, sigma: Array, center: Array | None = None
                    ) -> tuple[Array, Array]:
    """Weights (w [n], c []) such that the ES Hessian estimate is
    H = 1/(n sigma^2) sum_i w_i g_i g_i^T - c I.

    - values [n] (Alg. 4, Eq. 10): w_i = f(theta + sigma g_i), c = mean(w) / sigma^2.
    - values [2, n] plus ``center`` (antithetic with control variate): w_i =
      (f(theta + sigma g_i) + f(theta - sigma g_i)) / 2 - f(theta), c = mean(w) / sigma^2. The
      symmetric second difference cancels the odd Taylor terms and the offset f(theta), which
      lowers the variance (measured in tests/test_first_order.py).
    """
    if values.ndim == 2:
        if center is None:
            raise ValueError("the antithetic ES Hessian needs the centre value f(theta)")
        w = (values[0] + values[1]) / 2.0 - center
    else:
        w = values
    return w, jnp.mean(w) / sigma**2


def es_hessian(values: Array, eps: Array, sigma: Array, center: Array | None = None) -> Array:
    """Explicit ES Hessian [D, D] (Alg. 4; antithetic variant when values is [2, n]). Forms a
    D x D matrix: use `hessian_vector_product` when D is large."""
    w, c = hessian_weights(values, sigma, center)
    n, d = eps.shape
    return (eps.T * w) @ eps / (n * sigma**2) - c * jnp.eye(d)


def hessian_vector_product(values: Array, eps: Array, sigma: Array, vector: Array,
                           center: Array | None = None) -> Array:
    """H v for the same estimate without forming H: O(n D) instead of O(n D^2)."""
    w, c = hessian_weights(values, sigma, center)
    return eps.T @ (w * (eps @ vector)) / (eps.shape[0] * sigma**2) - c * vector


def l1_regression(z: Array, y: Array, iterations: int = 300, rho: float = 1.0,
                  relax: float = 1.6) -> tuple[Array, Array]:
    """argmin_g |Z g - y|_1 by ADMM (fixed iterations, jittable): the LP decoding the authors'
    regression-based optimizer solves with cvxpy (L1 loss, no regularization).

    Robust to a fraction of arbitrarily corrupted y when K > D (Choromanski et al., 2019c); when
    K < D an exact fit exists and the iterates stay in the row space of Z, so the result is the
    minimum-norm exact fit (what min-norm least squares gives on clean data). Splitting
    r = Z g - y: g-step a least-squares solve (Cholesky of the K x K or D x D Gram, whichever is
    smaller), r-step soft thresholding, over-relaxation ``relax``. The problem is rescaled first
    (rows by their RMS norm, y by its median magnitude, so corrupted values do not set the
    scale), and ADMM starts from g = 0 with every residual assigned to r, so the first g-step
    already ignores rows with large residuals.

    Returns (g [D], dual [K]): ``dual`` (in [-1, 1], A^T dual ~ 0) certifies optimality through
    `l1_duality_gap`. Rows of zeros (dropped queries) constrain nothing.
    """
    k, d = z.shape
    rows = jnp.maximum(jnp.sum(jnp.any(z != 0, axis=1)), 1)
    a_scale = jnp.sqrt(jnp.sum(z**2) / rows) + 1e-30
    med = jnp.median(jnp.abs(y))
    b_scale = jnp.where(med > 0, med, jnp.mean(jnp.abs(y))) + 1e-30
    a, b = z / a_scale, y / b_scale
    if k < d:  # g = A^T (A A^T)^-1 w keeps g in the row space (minimum norm)
        gram = a @ a.T
        fac = linalg.cho_factor(gram + (1e-6 * jnp.trace(gram) / k + 1e-12) * jnp.eye(k))
        solve = lambda w: a.T @ linalg.cho_solve(fac, w)
    else:
        gram = a.T @ a
        fac = linalg.cho_factor(gram + (1e-6 * jnp.trace(gram) / d + 1e-12) * jnp.eye(d))
        solve = lambda w: linalg.cho_solve(fac, a.T @ w)

    def body(carry, _):
        g, r, u = carry
        g = solve(b + r - u)
        residual = relax * (a @ g - b) + (1.0 - relax) * r
        v = residual + u
        r = jnp.sign(v) * jnp.maximum(jnp.abs(v) - 1.0 / rho, 0.0)
        return (g, r, u + residual - r), None

    (g, _, u), _ = jax.lax.scan(body, (jnp.zeros(d), -b, jnp.zeros(k)), None,
                                length=iterations)
    return g * b_scale / a_scale, jnp.clip(rho * u, -1.0, 1.0)


def l1_duality_gap(z: Array, y: Array, g: Array, dual: Array) -> Array:
    """Relative duality gap of g for min |Z g - y|_1: (primal - dual bound) / |y|_1 >= 0.

    LP duality: min_g |Z g - y|_1 = max { -y . s : Z^T s = 0, |s|_inf <= 1 }. ``dual`` is
    projected onto Z^T s = 0 and scaled back into the box, so -y . s is a valid lower bound
    and a small gap proves g optimal (when K < D only s = 0 is feasible: the gap is then the
    relative residual of the exact fit).
    """
    s = dual - z @ linalg.lstsq_solution(z, dual)
    s = s / jnp.maximum(1.0, jnp.max(jnp.abs(s)))
    primal = jnp.sum(jnp.abs(z @ g - y))
    return (primal + y @ s) / jnp.maximum(jnp.sum(jnp.abs(y)), 1e-30)
