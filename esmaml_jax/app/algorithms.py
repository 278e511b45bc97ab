"""What the app knows about each meta-learning algorithm, as data on its registry entry.

The build, the training loop, the device choice, the CLI and the plots read an algorithm's
`AlgorithmSpec` (how its inner step is configured, how it is constructed, whether its perturbation
axis can be sharded or chunked, how it is described) instead of branching on its name, so a new
algorithm is one entry here (or one `registry.register("algorithm", ...)` call) and no edit
elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from esmaml_jax.app.component import Component

# pg_maml's VPG outer update without an optimizer given: Adam 1e-3 (ProMP's VPG-MAML)
PG_VPG_OPTIMIZER = Component("adam", {"learning_rate": 1e-3})
# pg_maml settings of its TRPO outer step: inapplicable with --outer vpg
PG_TRPO_ONLY = ("max_kl", "cg_iters", "cg_damping", "line_search_steps", "backtrack_ratio")


class Inner(NamedTuple):
    """An algorithm whose inner step is fixed: the adaptation block names ``operator`` (or no
    operator) and may give only ``settings``, which reach the algorithm's constructor; their
    defaults are the constructor's. ``recommended``: which of a family's adaptation
    recommendations carry over. The messages are formatted with ``bad`` / ``moved`` / ``name``
    (comma-joined setting names, or the operator the user named)."""
    operator: str
    settings: tuple[str, ...]
    recommended: tuple[str, ...]
    wrong_operator: str
    bad_setting: str
    moved_setting: str


class Parts(NamedTuple):
    """What a spec's ``construct`` gets: everything the config built."""
    family: Any
    policy: Any
    objective: Any
    objective_settings: dict
    adaptation: Any  # the ES operator (None for an algorithm with a fixed inner step)
    inner: dict      # the inner step's settings (empty for an algorithm that takes an operator)
    options: dict    # the algorithm block's settings
    optimizer: Any
    mesh: Any


def _takes_optimizer(options: dict, given: Component | None, user: dict
                     ) -> tuple[bool, Component | None]:
    """The default rule: takes an optimizer, the one the config gives (None: the app's)."""
    return True, given


class AlgorithmSpec(NamedTuple):
    """``construct(factory, parts)``: the algorithm object. ``injected``: constructor
    arguments the app supplies (a config may not set them).
    ``inner``: None when the adaptation block names any registered ES operator.
    ``optimizer``: (options, given optimizer block or None, the user's algorithm settings) ->
    (whether it takes an optimizer, the block to use: None for the app's default); raises
    ValueError for settings that do not apply.
    ``axis_setting``: the setting counting the perturbation axis, which can be split over
    devices (None: the algorithm has no such axis); ``chunk_setting``: the setting that
    evaluates that axis in chunks (None: it cannot be chunked)."""
    construct: Callable[[Callable[..., Any], Parts], Any]  # (the registered factory, parts)
    injected: frozenset[str]
    describe: Callable[[dict, Component], str]
    inner: Inner | None = None
    rl_only: bool = False
    optimizer: Callable[[dict, Component | None, dict], tuple[bool, Component | None]] = (
        _takes_optimizer)
    axis_setting: str | None = None
    chunk_setting: str | None = None
    train_label: str = "train: adapted perturbed policies"
    policy_note: Callable[[dict], str] = lambda options: ""
    paths_title: str = ""  # the trajectory picture's title (after "<env>, "); "" for the default



def _zero_order(factory, p: Parts):
    kwargs = dict(p.options)
    if p.mesh is not None:
        kwargs["mesh"] = p.mesh
    return factory(p.objective, p.adaptation, optimizer=p.optimizer, **kwargs)


def _describe_zero_order(o: dict, ad: Component) -> str:
    return (f"zero_order(P={o['num_perturbations']} {o['estimator']}, "
            f"T={o['tasks_per_perturbation']}) adaptation={ad.name}"
            + (f"(K={ad.options['num_queries']})" if "num_queries" in ad.options else ""))


def _first_order(factory, p: Parts):
    return factory(p.objective, optimizer=p.optimizer, **p.inner, **p.options)


def _describe_first_order(o: dict, ad: Component) -> str:
    k_h = o["hessian_queries"] or ad.options["num_queries"]
    hess = (f"{o['hessian_estimator']} Hessian, K_H={k_h} {o['hessian_samples']}"
            if o["hessian"] else "no Hessian")
    return f"first_order(n={o['num_tasks']}, {hess}) inner K={ad.options['num_queries']}"


def _pg_maml(factory, p: Parts):
    return factory(p.family, p.policy, optimizer=p.optimizer, **p.objective_settings, **p.inner,
                   **p.options)


def _describe_pg_maml(o: dict, ad: Component) -> str:
    kl = f" max_kl={o['max_kl']}" if o["outer"] == "trpo" else ""
    return (f"pg_maml({o['outer']}{kl}, n={o['num_tasks']}, {o['meta_gradient']} meta-gradient, "
            f"Gaussian policy init_std={o['init_std']}, evaluation={o['evaluation']}) inner "
            f"policy-gradient step K={ad.options['num_queries']} trajectories "
            f"alpha={ad.options['step_size']}")


def _pg_optimizer(options: dict, given: Component | None, user: dict
                  ) -> tuple[bool, Component | None]:
    """TRPO sizes its own step (no optimizer); VPG defaults to Adam 1e-3."""
    if options["outer"] != "trpo":
        bad = [k for k in PG_TRPO_ONLY if k in user]
        if bad:
            raise ValueError(f"pg_maml with outer {options['outer']!r} takes no "
                             f"{', '.join(bad)} (TRPO's settings; --outer trpo uses them)")
        if given is None:
            return True, PG_VPG_OPTIMIZER
        return True, (given if given.name else Component(PG_VPG_OPTIMIZER.name, given.options))
    if given is not None:
        raise ValueError("pg_maml's TRPO outer step takes no optimizer or learning rate (its "
                         "size is set by algorithm.max_kl); use --outer vpg for an optimizer")
    return False, None


FIRST_ORDER_INNER = Inner(
    operator="es_gradient", settings=("num_queries", "sigma", "step_size", "shaping"),
    recommended=("num_queries", "sigma", "step_size", "shaping"),
    wrong_operator="first_order adapts with the ES gradient only (Alg. 5), not {name!r}",
    bad_setting=("first_order's inner step is one forward-FD Gaussian ES step: adaptation "
                 "setting(s) {bad} do not apply (it takes num_queries, sigma, step_size, "
                 "shaping)"),
    moved_setting=("first_order takes no setting(s) {moved}: it has no outer smoothing, its "
                   "inner step's settings are adaptation.{{num_queries, sigma, step_size, "
                   "shaping}} (-K, --inner-sigma, --alpha, --inner-shaping)"))

# K and alpha of pg_maml's policy-gradient step; of a family's ES-operator suggestions only K
# carries over (queries = trajectories, A.5)
PG_INNER = Inner(
    operator="policy_gradient", settings=("num_queries", "step_size"),
    recommended=("num_queries",),
    wrong_operator=("pg_maml adapts with a policy-gradient step (adaptation "
                    "'policy_gradient'), not {name!r}"),
    bad_setting=("pg_maml's inner step is one policy-gradient step on K trajectories: "
                 "adaptation setting(s) {bad} do not apply (it takes num_queries, step_size: "
                 "-K, --alpha)"),
    moved_setting=("pg_maml takes {moved} from the adaptation block (-K, --alpha), not the "
                   "algorithm block"))

BUILTIN: dict[str, AlgorithmSpec] = {
    "zero_order": AlgorithmSpec(
        construct=_zero_order, describe=_describe_zero_order,
        injected=frozenset({"objective", "adaptation", "optimizer", "mesh"}),
        axis_setting="num_perturbations", chunk_setting="chunk_size"),
    "first_order": AlgorithmSpec(
        construct=_first_order, describe=_describe_first_order, inner=FIRST_ORDER_INNER,
        injected=frozenset({"objective", "optimizer", *FIRST_ORDER_INNER.settings}),
        train_label="train: adapted policies"),
    "pg_maml": AlgorithmSpec(
        construct=_pg_maml, describe=_describe_pg_maml, inner=PG_INNER, rl_only=True,
        # the rollout settings come from the objective block
        injected=frozenset({"family", "policy", "optimizer", "horizon",
                            "normalize_observations", *PG_INNER.settings}),
        optimizer=_pg_optimizer,
        train_label="train: post-adaptation sampled trajectories",
        policy_note=lambda o: f", {o['evaluation']} Gaussian policy (algorithm.evaluation)",
        paths_title="PG-MAML meta-step {step} (paths of the Gaussian policies' mean actions)"),
}


def factories() -> dict[str, Callable[..., Any]]:
    from esmaml_jax.algorithms import first_order, pg_maml, zero_order

    return {"zero_order": zero_order, "first_order": first_order, "pg_maml": pg_maml}
