"""Learning smoke tests: ES-MAML must make adaptation work on four_corners (K = 20)."""

import jax
import optax
import pytest

import envs
import esmaml_jax as ej
from esmaml_jax import adaptation

# Measured here (seed 0, P = 50, 200 meta-steps, post-adaptation test return before -> after):
# es_gradient about -330 -> -230 (and -381 with the sign of the update flipped),
# hill_climb -268 -> -136, es_gradient with DPP directions -326 -> -231,
# rbo with alpha 0.4 -328 -> -263 (with K < D the ridge solution is the minimum-norm one, about
# K / D of the ES step, so rbo needs a larger alpha than 0.05 for the same progress). Found in
# session 9: this single-seed run now reaches only -294 in 200 steps (+34; the test had been
# failing unnoticed under -m slow; not traced to a commit: the speed work of issue 18 changed
# float order in the policy and the rollout, which moves a single seed's run) and -250 in 300,
# so rbo gets 300.
OPERATORS = {
    "es_gradient": lambda: adaptation.es_gradient(),
    "hill_climb": lambda: adaptation.hill_climb(),
    "dpp": lambda: adaptation.es_gradient(sampler=ej.estimators.dpp),
    "rbo": lambda: adaptation.rbo(step_size=0.4),
}
# The default run keeps one (es_gradient); the others run with -m slow (CI runs them).
SLOW = {"dpp", "rbo", "hill_climb"}
STEPS = {"rbo": 300}  # meta-steps; 200 for the others


def train_and_evaluate(algo, steps):
    """Untrained and trained evaluations (4 tasks x 16 adaptations, same key) and the metrics."""
    state = algo.init(jax.random.PRNGKey(0))
    evaluate = jax.jit(algo.evaluate, static_argnames=("num_tasks", "num_repeats"))
    before = evaluate(state, jax.random.PRNGKey(99), num_repeats=16)
    run = jax.jit(lambda s, ks: jax.lax.scan(algo.step, s, ks))
    state, metrics = run(state, jax.random.split(jax.random.PRNGKey(1), steps))
    after = evaluate(state, jax.random.PRNGKey(99), num_repeats=16)
    return before, after, metrics


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n
                                  for n in OPERATORS])
def test_four_corners_post_adaptation_return_rises_far_above_untrained(name):
    fam = envs.make("four_corners")
    obj = ej.rl_objective(fam, ej.policies.mlp(2, 2, (32,)))
    algo = ej.zero_order(obj, OPERATORS[name](), num_perturbations=50,
                         optimizer=optax.sgd(0.01))
    before, after, metrics = train_and_evaluate(algo, STEPS.get(name, 200))
    assert float(before["pre_mean"]) == -400.0  # the untrained meta-policy stands still
    assert float(after["post_mean"]) > float(before["post_mean"]) + 50.0, (before, after)
    assert float(after["post_mean"]) > -300.0
    # Adaptation is what earns the return: the adapted policies beat the meta-policy itself.
    assert float(after["post_mean"]) > float(after["pre_mean"]) + 50.0
    assert int(metrics["num_nonfinite"].sum()) == 0


@pytest.mark.slow
@pytest.mark.parametrize("hessian", [True, False])
def test_first_order_learns_four_corners(hessian):
    # Measured here (seed 0, n = 50 tasks, K = 20, post-adaptation test return):
    # FO-NoHessian (MLP, outer SGD 0.05, 300 steps) -330 -> -231. FO-Hessian needs its Hessian
    # noise tamed: alpha H v has noise about sqrt(D / K_H) * alpha / sigma^2 * |v|, which is 14 |v|
    # for the MLP (D = 162) at K_H = 20; with the paper's linear policy (D = 6), the antithetic
    # Hessian on K_H = 150 directions and SGD 0.01: -307 -> -265 in 100 steps (-381 with the
    # sign of the update flipped). With K_H = K = 20 it only reached -299 +- 25 over 4 seeds.
    fam = envs.make("four_corners")
    if hessian:
        obj = ej.rl_objective(fam, ej.policies.linear(2, 2))
        algo = ej.first_order(obj, num_tasks=50, hessian=True, hessian_estimator="antithetic",
                              hessian_queries=150, optimizer=optax.sgd(0.01))
        steps, margin = 100, 30.0
    else:
        obj = ej.rl_objective(fam, ej.policies.mlp(2, 2, (32,)))
        algo = ej.first_order(obj, num_tasks=50, hessian=False, optimizer=optax.sgd(0.05))
        steps, margin = 300, 50.0
    before, after, _ = train_and_evaluate(algo, steps)
    assert float(after["post_mean"]) > float(before["post_mean"]) + margin, (before, after)
