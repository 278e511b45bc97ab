"""PG-MAML: the policy-gradient MAML baselines the paper compares against (TRPO-MAML, VPG-MAML),
fused like zero-order ES-MAML: one pure meta-step, vmapped over tasks, jit/scan/vmap-able.

One meta-step (Finn et al. 2017 with the estimators of ProMP / Taming MAML):

1. for each of n tasks, sample K trajectories of the Gaussian policy pi_theta (A.5's query
   accounting: K x H state-action pairs per adaptation);
2. adapt: theta'_i = theta + alpha * grad L_in(theta) with the inner surrogate L_in of
   `esmaml_jax.pg` (``meta_gradient`` picks DiCE, LVC or first-order; see there);
3. sample K trajectories of pi_theta'_i on the same task;
4. outer update on J(theta) = 1/n sum_i L_out(theta'_i(theta)), the importance-weighted surrogate
   of the post-adaptation trajectories, differentiated THROUGH the inner step:
   - ``outer="trpo"`` (default; Taming MAML's defaults: max KL 0.01, 10 conjugate-gradient
     iterations, damping 1e-5, 15 backtracking steps of ratio 0.8): natural-gradient direction
     from the Fisher-vector product of the mean KL between the old and new POST-adaptation
     policies (also through the inner step), step scaled to the KL bound, line search that
     requires a higher surrogate and KL <= max_kl (else no step);
   - ``outer="vpg"``: one step of the optax optimizer on grad J (default Adam 1e-3).

The objective is formulation II of Rothfuss et al. (2019): J(theta) = E_{tau' ~ pi_U(theta)}[R]
with U the expected inner policy-gradient step; the score term of the pre-adaptation sampling
distribution (E-MAML's) is not added. Observation statistics are frozen during a step and
updated from every trajectory after it, as in ES-MAML.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from esmaml_jax import paper, pg
from esmaml_jax.adaptation import hparam
from esmaml_jax.algorithms import base
from esmaml_jax.algorithms.base import Algorithm, MetaState
from esmaml_jax.objectives import rl_objective
from esmaml_jax.policies import Policy, gaussian

OUTERS = ("trpo", "vpg")
EVALUATIONS = ("stochastic", "mean")


def pg_maml(family, policy: Policy, *, horizon: int | None = None,
            normalize_observations: bool = True, num_tasks: int = 40,
            num_queries: int = paper.NUM_QUERIES,
            step_size: float = 0.1, outer: str = "trpo", max_kl: float = 0.01,
            meta_gradient: str = "dice", discount: float = 0.99, baseline: str = "linear",
            normalize_advantages: bool = True, init_std: float = 1.0, cg_iters: int = 10,
            cg_damping: float = 1e-5, line_search_steps: int = 15,
            backtrack_ratio: float = 0.8, evaluation: str = "stochastic",
            optimizer: optax.GradientTransformation | None = None) -> Algorithm:
    """Build PG-MAML on an RL task family.

    Args:
      family: an RL task family (`envs`); policy: the deterministic MEAN network (`policies.
        linear` / `mlp`), made Gaussian with a learned state-independent log-std (init_std).
      num_tasks: n tasks per meta-step; num_queries: K trajectories per adaptation (and K
        post-adaptation trajectories per task for the outer step).
      step_size: inner step alpha (traced, in ``state.hparams["adapt"]["step_size"]``).
      outer: "trpo" or "vpg" (``optimizer``, default Adam 1e-3).
      max_kl: TRPO's KL bound delta (traced, ``state.hparams["max_kl"]``).
      meta_gradient: "dice" (unbiased Hessian term), "lvc" (ProMP) or "first_order".
      discount, baseline ("linear" or "none"), normalize_advantages: the advantage estimate.
      evaluation: what ``evaluate`` reports, "stochastic" (sampled actions: what PG-MAML
        optimizes and what its papers report) or "mean" (the deterministic mean action, as
        ES-MAML's policies act).
    Rollouts per step: 2 n K (n K before and n K after adaptation).
    """
    num_t = base.check_positive_int("num_tasks", num_tasks)
    k = base.check_positive_int("num_queries (K trajectories per adaptation)", num_queries)
    horizon = int(family.horizon if horizon is None else horizon)
    _check(outer, meta_gradient, baseline, evaluation, max_kl, step_size, discount,
           backtrack_ratio, cg_damping)
    if optimizer is not None and outer == "trpo":
        raise ValueError("the TRPO outer step takes no optimizer (its size is set by max_kl); "
                         "use outer='vpg' for an optimizer")
    stoch = gaussian(policy, family.action_size, init_std)
    c = _PG(
        stoch=stoch,
        # the deterministic (mean-action) view: evaluation of the mean, plots, the objective slot
        objective=rl_objective(family, stoch.deterministic, horizon, normalize_observations),
        sample=pg.sampler(family, stoch, horizon, normalize_observations), k=k, num_t=num_t,
        discount=discount, baseline=baseline, normalize_advantages=normalize_advantages,
        meta_gradient=meta_gradient, outer=outer,
        cg_iters=base.check_positive_int("cg_iters", cg_iters), cg_damping=cg_damping,
        line_search_steps=base.check_positive_int("line_search_steps", line_search_steps),
        backtrack_ratio=backtrack_ratio, evaluation=evaluation,
        optimizer=optimizer or optax.adam(1e-3))
    rollouts = 2 * num_t * k

    def init(key) -> MetaState:
        params = stoch.init(key)
        return MetaState(params=params,
                         opt_state=c.optimizer.init(params) if outer == "vpg" else (),
                         norm=c.objective.init_norm(), adapt_state=(),
                         hparams={"max_kl": hparam(max_kl),
                                  "adapt": {"step_size": hparam(step_size)}},
                         step=jnp.zeros((), jnp.int32))

    return Algorithm(
        init=init,
        step=functools.partial(_step, c),
        evaluate=functools.partial(_evaluate, c),
        objective=c.objective,
        adaptation=None,
        rollouts_per_step=rollouts,
        env_steps_per_step=rollouts * horizon,
        adapt=functools.partial(_adapt, c),
    )


def _check(outer, meta_gradient, baseline, evaluation, max_kl, step_size, discount,
           backtrack_ratio, cg_damping) -> None:
    """One-line errors for settings out of range or unknown."""
    for name, value, known in (("outer update", outer, OUTERS),
                               ("meta_gradient", meta_gradient, pg.META_GRADIENTS),
                               ("baseline", baseline, pg.BASELINES),
                               ("evaluation", evaluation, EVALUATIONS)):
        if value not in known:
            raise ValueError(f"unknown {name} {value!r}; known: {', '.join(known)}")
    for name, v in (("max_kl", max_kl), ("step_size", step_size)):
        if not (v > 0 and jnp.isfinite(v)):
            raise ValueError(f"{name} must be > 0 and finite, got {v}")
    if not 0.0 <= discount <= 1.0:
        raise ValueError(f"discount must be in [0, 1], got {discount}")
    if not 0.0 < backtrack_ratio < 1.0:
        raise ValueError(f"backtrack_ratio must be in (0, 1), got {backtrack_ratio}")
    if cg_damping < 0:
        raise ValueError(f"cg_damping must be >= 0, got {cg_damping}")


class _PG(NamedTuple):
    """PG-MAML's static parts: the Gaussian policy, its mean-action objective and trajectory
    sampler, K and n, and the estimator and outer-step settings."""
    stoch: Any
    objective: Any
    sample: Callable
    k: int
    num_t: int
    discount: float
    baseline: str
    normalize_advantages: bool
    meta_gradient: str
    outer: str
    cg_iters: int
    cg_damping: float
    line_search_steps: int
    backtrack_ratio: float
    evaluation: str
    optimizer: optax.GradientTransformation


def _advantages(c: _PG, batch):
    return pg.advantages(batch, c.discount, c.baseline, c.normalize_advantages)


def _adapt_on(c: _PG, params, batch, alpha):
    return pg.adapt(c.stoch, params, batch, _advantages(c, batch), alpha, c.meta_gradient)


def _collect(c: _PG, state: MetaState, task, key):
    """One task: pre-adaptation batch, adapted params, post-adaptation batch."""
    k_pre, k_post = jax.random.split(key)
    pre = c.sample(k_pre, state.params, task, state.norm, c.k)
    adapted = _adapt_on(c, state.params, pre, state.hparams["adapt"]["step_size"])
    post = c.sample(k_post, adapted, task, state.norm, c.k)
    return pre, adapted, post


def _step(c: _PG, state: MetaState, key) -> tuple[MetaState, dict]:
    k_task, k_roll = jax.random.split(key)
    tasks = c.objective.sample_train_tasks(k_task, c.num_t)
    pre, adapted, post = jax.vmap(functools.partial(_collect, c, state))(
        tasks, jax.random.split(k_roll, c.num_t))
    alpha = state.hparams["adapt"]["step_size"]
    post_adv = jax.vmap(functools.partial(_advantages, c))(post)
    old_lp = jax.vmap(lambda p, b: pg.log_probs(c.stoch, p, b))(adapted, post)
    old_lp = jax.lax.stop_gradient(old_lp)

    def per_task_adapted(params):
        return jax.vmap(lambda b: _adapt_on(c, params, b, alpha))(pre)

    def surrogate_of(new):  # of the post-adaptation params [n, D]
        return jnp.mean(jax.vmap(functools.partial(pg.outer_objective, c.stoch))(
            new, post, post_adv, old_lp))

    def surrogate_and_kl(params):  # one inner step per task for both
        new = per_task_adapted(params)
        return surrogate_of(new), jnp.mean(jax.vmap(functools.partial(pg.mean_kl, c.stoch))(
            jax.lax.stop_gradient(adapted), new, post))

    theta = state.params
    grad = jax.grad(lambda params: surrogate_of(per_task_adapted(params)))(theta)
    finite = jnp.all(jnp.isfinite(grad))
    grad = jnp.where(finite, grad, 0.0)
    info = {}
    if c.outer == "trpo":
        new_params, info = _trpo(c, state, grad, finite, per_task_adapted, surrogate_and_kl,
                                 post)
        opt_state = state.opt_state
    else:
        new_params, opt_state = base.outer_update(c.optimizer, state, grad,
                                                  jnp.mean(post.returns), finite)
    aux = base.sum_aux(({"obs": pre.moments}, 1), ({"obs": post.moments}, 1))
    norm, norm_skipped = base.update_norm(c.objective, state.norm, aux)
    values = post.returns
    metrics = {
        "pre_return": base.finite_mean(pre.returns),
        "post_return": base.finite_mean(values),
        "num_nonfinite": (jnp.sum(~jnp.isfinite(values))
                          + jnp.sum(~jnp.isfinite(pre.returns))).astype(jnp.int32),
        "skipped_update": ~finite,  # no finite meta-gradient: nothing changed
        "norm_skipped": norm_skipped,
        "grad_norm": jnp.linalg.norm(grad),
        "std": jnp.mean(jnp.exp(c.stoch.log_std(new_params))),
        **info,
    }
    new_state = state.replace(params=new_params, opt_state=opt_state, norm=norm,
                              step=state.step + 1)
    return new_state, metrics


def _trpo(c: _PG, state: MetaState, grad, finite, per_task_adapted, surrogate_and_kl, post):
    """TRPO's outer step: the natural-gradient direction (CG on the Fisher-vector product
    through the inner step), scaled to the KL bound, then the backtracking line search.
    (new params, info)."""
    theta, max_kl_t = state.params, state.hparams["max_kl"]
    fvp = pg.fisher_vector_product(c.stoch, per_task_adapted, theta, post, c.cg_damping)
    direction = pg.conjugate_gradient(fvp, grad, c.cg_iters)
    shs = 0.5 * jnp.dot(direction, fvp(direction))
    full = direction * jnp.sqrt(max_kl_t / jnp.maximum(shs, 1e-20))
    full = jnp.where(jnp.all(jnp.isfinite(full)) & finite, full, 0.0)
    new_params, accepted, j, kl = pg.line_search(
        surrogate_and_kl, theta, full, max_kl_t, c.line_search_steps, c.backtrack_ratio,
        expected_improvement=jnp.dot(grad, full))
    new_params = jnp.where(accepted & finite, new_params, theta)
    # a rejected line search is TRPO working as designed (no step it could trust)
    return new_params, {"kl": jnp.where(accepted & finite, kl, 0.0),
                        "line_search_steps": j.astype(jnp.int32),
                        "line_search_rejected": ~accepted & finite}


def _adapt(c: _PG, state: MetaState, key, task):
    """The adapted parameters of one task (K sampled trajectories, one inner step)."""
    batch = c.sample(key, state.params, task, state.norm, c.k)
    return _adapt_on(c, state.params, batch, state.hparams["adapt"]["step_size"])


def _evaluate(c: _PG, state: MetaState, key, num_tasks: int | None = None,
              num_repeats: int = 1, draw=None) -> dict:
    """Pre/post-adaptation returns on the test tasks, ``evaluation`` style (one episode each,
    like ES-MAML's f_T; the adaptation spends K sampled trajectories). ``draw``: as in
    `base.evaluate`."""
    tasks, keys = (draw if draw is not None else
                   base.evaluation_draw(c.objective, key, num_tasks, num_repeats))

    def episode(kk, params, task):
        if c.evaluation == "mean":
            return c.objective.evaluate(kk, params, task, state.norm)[0]
        return c.sample(kk, params, task, state.norm, 1).returns[0]

    def one(task, kk):
        adapted = _adapt(c, state, kk[1], task)
        return episode(kk[0], state.params, task), episode(kk[2], adapted, task)

    pre, post = jax.vmap(lambda t, ks: jax.vmap(lambda kk: one(t, kk))(ks))(tasks, keys)
    return {"pre": pre, "post": post, "pre_mean": base.finite_mean(pre),
            "post_mean": base.finite_mean(post)}
