"""`esmaml bench --algorithm pg_maml`: PG-MAML's fused meta-step against its bare-rollout limit
and ES-MAML's step on the same env, timed in interleaved rounds."""

from __future__ import annotations

import dataclasses
import os
import statistics
import time

import jax
import optax

import envs
from esmaml_jax import adaptation, compiler, paper, policies
from esmaml_jax.algorithms import zero_order
from esmaml_jax.app.bench import _policy, interleaved, spread
from esmaml_jax.objectives import rl_objective


@dataclasses.dataclass
class PGBenchConfig:
    env: str = "navigation_2d"
    policy: str = "mlp"
    hidden: int = 32
    num_tasks: int = 40
    num_queries: int = paper.NUM_QUERIES
    horizon: int = 100
    rounds: int = 5
    # the ES-MAML row: zero_order, P antithetic, K = num_queries
    es_perturbations: int = paper.NUM_PERTURBATIONS


def run_pg(cfg: PGBenchConfig) -> dict:
    """PG-MAML's fused meta-step (TRPO and VPG outer updates) against the bare-rollout limit:
    one jitted, vmapped batch of the same 2 n K stochastic episodes with nothing around them;
    and, for the cost comparison, ES-MAML's fused step (zero_order, es_gradient, P antithetic
    perturbations, same K, same policy) on the same env. All are timed in interleaved rounds
    (min / median / max over ``rounds``), after a warm-up call each; compile times apart. Each
    row's env steps/s uses its own env steps per meta-step."""
    from esmaml_jax import pg
    from esmaml_jax.algorithms import pg_maml

    family = envs.make(cfg.env, horizon=cfg.horizon)
    policy = _policy(cfg.policy, family, cfg.hidden)
    key = jax.random.PRNGKey(1)
    programs: dict[str, tuple] = {}
    compile_s, algos = {}, {}
    for outer in ("trpo", "vpg"):
        algo = pg_maml(family, policy, num_tasks=cfg.num_tasks, num_queries=cfg.num_queries,
                       outer=outer, optimizer=optax.adam(1e-3) if outer == "vpg" else None)
        state = algo.init(jax.random.PRNGKey(0))
        t0 = time.perf_counter()
        compiled = compiler.jit(algo.step).lower(state, key).compile()
        compile_s[outer] = time.perf_counter() - t0
        programs[outer] = (compiled, (state, key))
        algos[outer] = algo
    es = zero_order(rl_objective(family, policy), adaptation.es_gradient(
        num_queries=cfg.num_queries), num_perturbations=cfg.es_perturbations)
    es_state = es.init(jax.random.PRNGKey(0))
    t0 = time.perf_counter()
    programs["es_maml"] = (compiler.jit(es.step).lower(es_state, key).compile(), (es_state, key))
    compile_s["es_maml"] = time.perf_counter() - t0
    algos["es_maml"] = es
    algo = algos["trpo"]
    episodes = algo.rollouts_per_step
    stoch = policies.gaussian(policy, family.action_size)
    sample = pg.sampler(family, stoch, cfg.horizon, True)
    state = algo.init(jax.random.PRNGKey(0))
    tasks = family.sample_train_tasks(key, episodes)

    def bare(k):
        keys = jax.random.split(k, episodes)
        one = lambda kk, t: sample(kk, state.params, t, state.norm, 1).returns[0]
        return jax.vmap(one)(keys, tasks)

    t0 = time.perf_counter()
    limit = compiler.jit(bare).lower(key).compile()
    compile_s["limit"] = time.perf_counter() - t0
    programs["limit"] = (limit, (key,))
    times = interleaved(programs, cfg.rounds)
    env_steps = algo.env_steps_per_step
    limit_rate = env_steps / statistics.median(times["limit"])
    rows = {}
    for name, ts in times.items():
        steps = algos[name].env_steps_per_step if name in algos else env_steps
        rate = steps / statistics.median(ts)
        rows[name] = {"step_s": spread(ts),
                      "env_steps_per_step": steps, "env_steps_per_s": rate,
                      "compile_s": round(compile_s[name], 2),
                      "ratio_to_limit": rate / limit_rate}
    return {"config": dataclasses.asdict(cfg), "num_params": stoch.num_params,
            "rollouts_per_step": episodes, "env_steps_per_step": env_steps, "rows": rows,
            "load_average": os.getloadavg(), "devices": [str(d) for d in jax.devices()]}
