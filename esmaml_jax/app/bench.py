"""Throughput of the fused meta-step against (a) the bare rollouts of its own batches, (b) a
minimal fused program of the same algorithm and (c) an unfused implementation with the
reference's architecture, measured in one run.

- fused: ``esmaml_jax.jit(algo.step)``, the whole meta-step as one XLA program.
- limit: the SAME rollout batches as the step (`rollout_batches`: counted by running the step
  once, so it is right for every operator: es_gradient's queries + centres and evaluations,
  hill climbing's batch per iteration, ...), same policy and normalizer, one jitted program
  with nothing around them: what the env steps alone cost in the step's own batches.
- flat limit: the same number of episodes as one flat vmapped batch (context: the layout's cost).
- outside: the fused step with every rollout replaced by a stand-in of almost no cost
  (`without_rollouts`): what the step does besides rolling out. fused ~ limit + outside says
  the rollouts cost inside the step what they cost bare.
- minimal (four corners only): `esmaml_jax.app.minimal.step`, Alg. 3 in about 60 lines of plain
  jnp with no Env framework and no normalization, at the same P, K, H and policy.
- unfused: a Python loop over perturbations x signs x tasks dispatching one jitted
  "adapt, then evaluate" per pair and gathering the values on the host (like the reference's
  workers), then the same ES update. Timed on ``unfused_repeats`` meta-steps (it is slow).

Env steps are counted as rollouts x horizon. Compile time is reported apart from the steady
state. After a warm-up call each, the figures are timed in ``repeats`` interleaved rounds
(every program once per round, the unfused loop in the first ``unfused_repeats`` rounds),
reported as the median with min / max (``*_spread``) and per-round ratios, with the load
average before and after: the machine may be shared. Memory: XLA's buffer sizes of the
compiled fused program, and the process's peak resident set.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import resource
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

import envs
from esmaml_jax import adaptation, compiler, estimators, paper, shaping
from esmaml_jax.algorithms import zero_order
from esmaml_jax.app import minimal, registry
from esmaml_jax.objectives import batch_evaluator, rl_objective


@dataclasses.dataclass
class BenchConfig:
    env: str = "four_corners"
    policy: str = "linear"
    hidden: int = 32
    num_perturbations: int = paper.NUM_PERTURBATIONS
    num_queries: int = paper.NUM_QUERIES
    tasks_per_perturbation: int = 1
    horizon: int = 100
    operator: str = "es_gradient"  # any registered adaptation (`registry.names("adaptation")`)
    repeats: int = 5
    unfused_repeats: int = 1
    chunk_size: int | None = None


def _policy(name: str, family, hidden: int):
    """The registered policy ``name`` for ``family`` (one hidden layer of ``hidden`` units
    where it has hidden layers)."""
    has_hidden = "hidden_sizes" in registry.settings("policy", name)
    sizes = {"hidden_sizes": (hidden,)} if has_hidden else {}
    return registry.lookup("policy", name).factory(family.observation_size, family.action_size,
                                                   **sizes)


def _time(fn, *args, repeats):
    t0 = time.perf_counter()
    jax.block_until_ready(fn(*args))  # warm-up (includes compilation for jitted fns)
    first = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - t0)
    return first, statistics.median(times)


def spread(ts) -> dict:
    """min / median / max of a list of timings."""
    return {"min": min(ts), "median": statistics.median(ts), "max": max(ts)}


def interleaved(programs: dict, rounds: int, extra=None) -> dict[str, list[float]]:
    """Time every ``programs[name] = (fn, args)`` once per round for ``rounds`` rounds (after a
    warm-up call each), so a change of machine load hits every figure alike: {name: [s, ...]}.
    ``extra(i)``, if given, runs after round i's programs (e.g. a slow loop timed only in the
    first rounds)."""
    for fn, args in programs.values():  # warm-ups
        jax.block_until_ready(fn(*args))
    times: dict[str, list[float]] = {name: [] for name in programs}
    for i in range(rounds):
        for name, (fn, args) in programs.items():
            t0 = time.perf_counter()
            jax.block_until_ready(fn(*args))
            times[name].append(time.perf_counter() - t0)
        if extra is not None:
            extra(i)
    return times


def _unfused_step(objective, op, state, key, cfg: BenchConfig, one):
    """The same zero-order step as a host loop over (sign, perturbation, task)."""
    p, t = cfg.num_perturbations, cfg.tasks_per_perturbation
    k_eps, k_task, k_adapt, k_eval, _ = jax.random.split(key, 5)
    theta, sig = state.params, state.hparams["sigma"]
    eps = estimators.gaussian(k_eps, p, theta.shape[0])
    tasks = objective.sample_train_tasks(k_task, p * t)
    ka = jax.random.split(k_adapt, (p, t))
    ke = jax.random.split(k_eval, (p, t))
    values = np.zeros((2, p, t), np.float32)
    for s, sign in enumerate((1.0, -1.0)):
        for i in range(p):
            point = theta + sign * sig * eps[i]
            for j in range(t):
                task = jax.tree.map(lambda x, idx=i * t + j: x[idx], tasks)
                values[s, i, j] = float(one(state, point, task, ka[i, j], ke[i, j]))
    grad, _ = estimators.estimate(jnp.asarray(values.mean(axis=2)), eps, sig,
                                  estimators.antithetic, shaping.zscore)
    return theta + 0.01 * grad


def run(cfg: BenchConfig) -> dict:
    """The fused meta-step against its limits and the unfused loop, in interleaved rounds."""
    family = envs.make(cfg.env, horizon=cfg.horizon)
    policy = _policy(cfg.policy, family, cfg.hidden)
    objective = rl_objective(family, policy)
    op = registry.lookup("adaptation", cfg.operator).factory(num_queries=cfg.num_queries)
    meta = lambda obj: zero_order(obj, op, num_perturbations=cfg.num_perturbations,
                                  tasks_per_perturbation=cfg.tasks_per_perturbation,
                                  optimizer=optax.sgd(paper.OUTER_LEARNING_RATE),
                                  chunk_size=cfg.chunk_size)
    algo = meta(objective)
    state = algo.init(jax.random.PRNGKey(0))
    key = jax.random.PRNGKey(1)
    programs, compile_s = _programs(cfg, algo, meta, state, key)
    compiled = programs["fused"][0]
    unfused_round, unfused_t, unfused_first = _unfused_timer(objective, op, state, key, cfg)
    load_before = os.getloadavg()
    times = interleaved(programs, cfg.repeats, unfused_round)
    breakdown = _unfused_breakdown(objective, state, key, cfg, compiled,
                                   statistics.median(times["fused"]), algo.rollouts_per_step,
                                   statistics.median(unfused_t))
    result = _result(cfg, algo, compiled, times, unfused_t, compile_s)
    result.update({"unfused_first_step_s": round(unfused_first, 2), "breakdown": breakdown,
                   "load_average": [load_before, os.getloadavg()]})
    return result


def _programs(cfg: BenchConfig, algo, meta, state, key) -> tuple[dict, dict]:
    """The compiled programs to time, (program, args) by name, and their compile times:
    the fused step; (a) its limit, its own rollout batches bare (and as one flat batch), and
    everything of the step but its rollouts; (b) the minimal program (four corners only)."""
    objective = algo.objective
    programs: dict[str, tuple] = {}
    compile_s: dict[str, float] = {}

    def add(name, fn, *args):
        t0 = time.perf_counter()
        programs[name] = (compiler.jit(fn).lower(*args).compile(), args)
        compile_s[name] = time.perf_counter() - t0

    add("fused", algo.step, state, key)
    add("limit", *_limit_program(objective, state, rollout_batches(algo), key))
    rollouts = algo.rollouts_per_step
    params = state.params + 0.1 * jax.random.normal(key, (rollouts, state.params.shape[0]))
    tasks = objective.sample_train_tasks(key, rollouts)
    keys = jax.random.split(key, rollouts)
    evaluate_batch = batch_evaluator(objective)
    add("flat_limit", lambda k, p, tk: evaluate_batch(k, p, tk, state.norm)[0],
        keys, params, tasks)
    # fused ~ limit + outside when the rollouts cost inside the step what they cost bare
    add("outside", meta(without_rollouts(objective, state.norm)).step, state, key)
    if (cfg.env == "four_corners" and cfg.tasks_per_perturbation == 1
            and cfg.operator == "es_gradient"):
        hidden = None if cfg.policy == "linear" else cfg.hidden
        add("minimal", functools.partial(minimal.step, num_perturbations=cfg.num_perturbations,
                                         num_queries=cfg.num_queries, horizon=cfg.horizon,
                                         hidden=hidden),
            jnp.zeros(minimal.num_params(hidden)), key)
    return programs, compile_s


def _unfused_timer(objective, op, state, key, cfg: BenchConfig):
    """(round function, its times, first-call seconds) for (c): the unfused step, one
    dispatch per (sign, perturbation, task), timed in the first ``unfused_repeats`` rounds."""
    def adapt_and_score(state, point, task, k_a, k_e):
        f = lambda k, p: objective.evaluate(k, p, task, state.norm)
        adapted, _ = op.adapt(k_a, point, f, state.hparams["adapt"], state.adapt_state)
        return f(k_e, adapted)[0]

    one = compiler.jit(adapt_and_score)
    t0 = time.perf_counter()
    _unfused_step(objective, op, state, key, cfg, one)  # warm-up (compiles the one call)
    first = time.perf_counter() - t0
    unfused_t: list[float] = []

    def unfused_round(i):
        if i < cfg.unfused_repeats:
            t0 = time.perf_counter()
            jax.block_until_ready(_unfused_step(objective, op, state, key, cfg, one))
            unfused_t.append(time.perf_counter() - t0)

    return unfused_round, unfused_t, first


def _result(cfg: BenchConfig, algo, compiled, times: dict, unfused_t, compile_s) -> dict:
    """The report: medians, spreads and per-round ratios (other / fused time)."""
    fused_t, limit_t = times["fused"], times["limit"]
    fused, limit = statistics.median(fused_t), statistics.median(limit_t)
    unfused = statistics.median(unfused_t)
    env_steps = algo.env_steps_per_step
    mem = compiled.memory_analysis()
    xla_bytes = (mem.temp_size_in_bytes + mem.argument_size_in_bytes
                 + mem.output_size_in_bytes) if mem is not None else float("nan")
    ratio = lambda name: [o / f for f, o in zip(fused_t, times[name], strict=True)]
    # (limit + outside) / fused per round: 1 = the step costs its rollouts plus its own
    # arithmetic, nothing more
    sum_ratio = [a + b for a, b in zip(ratio("limit"), ratio("outside"), strict=True)]
    median = lambda name: statistics.median(times[name])
    result = {
        "config": dataclasses.asdict(cfg),
        "num_params": algo.objective.num_params,
        "rollouts_per_step": algo.rollouts_per_step,
        "rollout_batches": [{"size": n, "executions": c} for n, c in rollout_batches(algo)],
        "env_steps_per_step": env_steps,
        "fused_compile_s": round(compile_s["fused"], 2),
        "fused_step_s": fused, "fused_meta_steps_per_s": 1.0 / fused,
        "fused_env_steps_per_s": env_steps / fused,
        "limit_compile_s": round(compile_s["limit"], 2),
        "limit_s": limit, "limit_env_steps_per_s": env_steps / limit,
        "flat_limit_s": median("flat_limit"), "outside_s": median("outside"),
        "outside_s_spread": spread(times["outside"]),
        "ratio_fused_over_limit_plus_outside": statistics.median(sum_ratio),
        "ratio_fused_over_limit_plus_outside_spread": spread(sum_ratio),
        "unfused_step_s": unfused, "unfused_env_steps_per_s": env_steps / unfused,
        "ratio_fused_over_limit": limit / fused,
        "ratio_fused_over_flat_limit": median("flat_limit") / fused,
        "ratio_fused_over_unfused": unfused / fused,
        "fused_xla_buffer_mb": xla_bytes / 2**20,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "devices": [str(d) for d in jax.devices()],
        "compiler_options": compiler.compiler_options(),
        "rounds": cfg.repeats,
        "fused_step_s_spread": spread(fused_t), "limit_s_spread": spread(limit_t),
        "flat_limit_s_spread": spread(times["flat_limit"]),
        "unfused_step_s_spread": spread(unfused_t),
        "ratio_fused_over_limit_spread": spread(ratio("limit")),
        "ratio_fused_over_flat_limit_spread": spread(ratio("flat_limit")),
        "compile_s": {k: round(v, 2) for k, v in compile_s.items()},
        "flat_layout": "explicit flat batches (vmap of the env step; MLP batch-last on CPU)",
    }
    if "minimal" in times:
        result.update({
            "minimal_step_s": median("minimal"),
            "minimal_step_s_spread": spread(times["minimal"]),
            "ratio_fused_over_minimal": median("minimal") / fused,
            "ratio_fused_over_minimal_spread": spread(ratio("minimal")),
        })
    return result


def rollout_batches(algo) -> list[tuple[int, int]]:
    """[(flat batch size, executions per meta-step)], largest first: the rollout batches one
    meta-step of ``algo`` runs, as the algorithm declares them (`Algorithm.rollout_batches`:
    e.g. hill climbing's iterations appear as one batch size executed once per iteration)."""
    if not algo.rollout_batches:
        raise ValueError("this algorithm does not declare its rollout batches")
    return list(algo.rollout_batches)


def without_rollouts(objective, norm):
    """``objective`` with every rollout replaced by a stand-in of almost no cost, for timing
    what a meta-step does besides its rollouts (drawing directions and keys, the estimators,
    the adaptation, the update): a value that depends on every input of the rollout (so XLA
    removes nothing upstream) and zero statistics of the rollout's own shapes."""
    task0 = jax.tree.map(lambda x: x[0], objective.sample_train_tasks(jax.random.PRNGKey(0), 1))
    value, aux = jax.eval_shape(objective.evaluate, jax.random.PRNGKey(0),
                                jnp.zeros(objective.num_params), task0, norm)

    def evaluate(key, params, task, norm):
        total = jnp.sum(params) + 1e-9 * jnp.sum(jax.random.key_data(key)).astype(jnp.float32)
        for leaf in jax.tree.leaves(task):
            total = total + jnp.sum(leaf).astype(jnp.float32)
        zeros = jax.tree.map(lambda a: jnp.zeros(a.shape, a.dtype), aux)
        return total.astype(value.dtype).reshape(value.shape), zeros

    return objective._replace(evaluate=evaluate, evaluate_batch=None)


def _limit_program(objective, state, batches: list[tuple[int, int]], key):
    """(program, its inputs): the bare rollouts of exactly ``batches`` (`rollout_batches`):
    per (size N, executions c), c flat batches of N episodes (a ``lax.map`` over them when
    c > 1, as a scan runs them in the step) of the same policy at random parameters near the
    step's, with the step's normalizer, keeping what the step keeps of each rollout (its return
    and the observation moments), and nothing else: the parameters, tasks and rollout keys are
    drawn once, outside the timed program."""
    theta = state.params
    evaluate_batch = batch_evaluator(objective)
    batch = lambda k, x, task: evaluate_batch(k, x, task, state.norm)

    def draw(n, count, k):
        k1, k2, k3 = jax.random.split(k, 3)
        params = theta + 0.1 * jax.random.normal(k1, (count, n, theta.shape[0]))
        tasks = jax.tree.map(lambda x: x.reshape(count, n, *x.shape[1:]),
                             objective.sample_train_tasks(k2, count * n))
        keys = jax.random.split(k3, (count, n))
        return keys, params, tasks

    def flat(inputs):
        values, aux = batch(*inputs)
        return values.sum() + sum(jnp.sum(leaf) for leaf in jax.tree.leaves(aux))

    def program(inputs):
        total = jnp.zeros(())
        for (_, count), x in zip(batches, inputs, strict=True):
            total += (flat(jax.tree.map(lambda a: a[0], x)) if count == 1
                      else jax.lax.map(flat, x).sum())
        return total

    inputs = [draw(n, c, jax.random.fold_in(key, i)) for i, (n, c) in enumerate(batches)]
    return program, inputs


def _unfused_breakdown(objective, state, key, cfg: BenchConfig, compiled, fused_s: float,
                       rollouts: int, unfused_s: float) -> dict:
    """Where the unfused loop's time goes, per (sign, perturbation, task) call.

    - dispatch: a trivial jitted call (the Python + runtime floor of any dispatch);
    - small_batch: the call's own rollouts run as jitted batches of K (the queries) and 1 (the
      evaluation), as the unfused call runs them, without the host loop around;
    - fused_share: the same rollouts' share of the fused step.
    So unfused/fused = (dispatch + host work + small-batch compute) / fused share, and the
    small-batch part says how much is lost to batching rather than to dispatching. Plus the fused
    program's HLO: one executable whose rollouts are XLA while loops.
    """
    calls = 2 * cfg.num_perturbations * cfg.tasks_per_perturbation
    tiny = compiler.jit(lambda x: x + 1.0)
    x = jnp.zeros(())
    _, dispatch = _time(tiny, x, repeats=200)

    def batch(n):
        params = state.params + 0.1 * jax.random.normal(key, (n, state.params.shape[0]))
        tasks = objective.sample_train_tasks(key, n)
        keys = jax.random.split(key, n)
        evaluate_batch = batch_evaluator(objective)
        fn = compiler.jit(lambda k, p, tk: evaluate_batch(k, p, tk, state.norm)[0])
        return _time(fn, keys, params, tasks, repeats=max(cfg.repeats, 20))[1]

    small = batch(cfg.num_queries) + batch(1)
    per_call_unfused = unfused_s / calls
    per_call_fused = fused_s / calls
    hlo = compiled.as_text()
    return {
        "calls_per_step": calls,
        "dispatch_s": dispatch,
        "unfused_per_call_s": per_call_unfused,
        "small_batch_compute_per_call_s": small,
        "fused_per_call_s": per_call_fused,
        "host_and_dispatch_share_of_unfused": max(0.0, per_call_unfused - small)
        / per_call_unfused,
        "batching_gain": small / per_call_fused,
        "hlo_while_loops": hlo.count(" while("),
        "hlo_fusions": hlo.count(" fusion("),
        "rollouts_per_step": rollouts,
    }


def scaling(cfg: BenchConfig, axis: str, values) -> list[dict]:
    """Fused step time and XLA buffer size as one setting grows (others as in ``cfg``)."""
    rows = []
    for v in values:
        c = dataclasses.replace(cfg, **{axis: v})
        family = envs.make(c.env, horizon=c.horizon)
        policy = _policy(c.policy, family, c.hidden)
        objective = rl_objective(family, policy)
        algo = zero_order(objective, adaptation.es_gradient(num_queries=c.num_queries),
                          num_perturbations=c.num_perturbations,
                          tasks_per_perturbation=c.tasks_per_perturbation,
                          chunk_size=c.chunk_size)
        state = algo.init(jax.random.PRNGKey(0))
        t0 = time.perf_counter()
        compiled = compiler.jit(algo.step).lower(state, jax.random.PRNGKey(1)).compile()
        compile_s = time.perf_counter() - t0
        _, step_s = _time(compiled, state, jax.random.PRNGKey(1), repeats=c.repeats)
        mem = compiled.memory_analysis()
        buffers = (float("nan") if mem is None else (
            mem.temp_size_in_bytes + mem.argument_size_in_bytes + mem.output_size_in_bytes) / 2**20)
        rows.append({"axis": axis, "value": v, "step_s": step_s, "compile_s": compile_s,
                     "env_steps_per_s": algo.env_steps_per_step / step_s,
                     "xla_buffer_mb": buffers})
    return rows
