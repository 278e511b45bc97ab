"""The one impure host loop: scanned chunks of meta-steps, evaluation, logging, checkpoints.

Everything inside a chunk is one compiled program (``lax.scan`` over the jitted meta-step); the
host only touches results between chunks to evaluate, log and draw the progress bar.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from esmaml_jax import compiler
from esmaml_jax.algorithms import base
from esmaml_jax.app import memory, multihost, registry, rundir
from esmaml_jax.app.build import Built, build
from esmaml_jax.app.checkpoint import Checkpointer
from esmaml_jax.app.config import Config
from esmaml_jax.app.progress import Heartbeat, Progress, StopFlag, abort_now, fmt, wait_ready


def _fit_memory(built: Built, state, mesh, budget: int):
    """(chunk size or None, reason) for the zero-order step under ``budget`` bytes."""
    family, algo = built.family, built.algorithm
    key = jax.random.PRNGKey(0)
    state_bytes = 0
    if hasattr(family, "env"):  # RL: one rollout's scan carry is its env state
        tasks = jax.eval_shape(lambda k: algo.objective.sample_train_tasks(k, 1), key)
        reset = lambda k, t: family.env.reset_task(k, jax.tree.map(lambda x: x[0], t))
        state_bytes = memory.tree_bytes(jax.eval_shape(reset, key, tasks))
    estimate = memory.estimate_bytes(algo.rollouts_per_step, state_bytes, state.params.shape[0])
    alg = built.config.component("algorithm")
    perturbations = alg.options[registry.algorithm(alg.name).axis_setting]

    def program_bytes(chunk):
        return memory.compiled_bytes(compiler.jit(_chunked(built, chunk, mesh).algorithm.step)
                                     .lower(state, key).compile())

    return memory.pick_chunk_size(perturbations, program_bytes, budget, estimate=estimate)


def _chunked(built: Built, chunk: int | None, mesh) -> Built:
    """``built`` with the perturbation axis in chunks of ``chunk`` (same family object)."""
    setting = registry.algorithm(built.config.component("algorithm").name).chunk_setting
    return build(built.config.set(f"algorithm.{setting}", chunk), mesh, family=built.family)


def describe(built: Built) -> str:
    """One line naming every component and its main sizes."""
    c, algo = built.config, built.algorithm
    alg, ad = c.component("algorithm"), c.component("adaptation")
    what = registry.algorithm(alg.name).describe(alg.options, ad)
    pol = c.component("policy")
    hidden = list(pol.options["hidden_sizes"]) if "hidden_sizes" in pol.options else ""
    horizon = (f"H={algo.objective.steps_per_query}" if algo.objective.steps_per_query
               else f"shots={c.objective.get('num_shots')}")
    env = c.component("env").name
    return (f"env={env} {what} policy={pol.name}{hidden} D={algo.objective.num_params} "
            f"{horizon} steps={c.run['num_steps']} seed={c.run['seed']}")


CHECKPOINT_EVERY = 100  # meta-steps between checkpoints unless the run says otherwise


def train(config: Config | None, out_dir: str | os.PathLike, *, resume: bool = False,
          progress: bool = True, log=print, checkpoint_every: int | None = None, keep: int = 3,
          should_stop=None, tensorboard: bool = False, shard: bool = False,
          memory_budget: int | None = None, force_config: bool = False,
          restart: bool = False) -> dict:
    """Run (or, with ``resume``, continue) a training job in ``out_dir``. Returns the summary.

    ``config`` is resolved by `build` exactly as the CLI resolves it (the same config gives the
    same run). Everything that can refuse the run (settings, memory) is checked before the run
    directory is made. A checkpoint is saved every ``checkpoint_every`` meta-steps (at the end of
    a chunk), at the end, and when SIGINT/SIGTERM (or ``should_stop(done)``) asks the run to
    stop; a resumed run ends with bit-identical parameters to an uninterrupted one, because
    every chunk's key is derived from the seed and the number of meta-steps already done.

    A run's records are append-only: a resume keeps config.json as it was made, appends to
    metrics.csv (the wall-time column continues), records every resume in events.jsonl (with the
    new ``run.num_steps``, which may only grow, and any setting changed with ``force_config``),
    refuses to start from scratch when the checkpoints are gone (unless ``restart``) and leaves a
    finished run untouched when there is nothing left to do. ``shard`` spreads the perturbation
    axis over every device; with ``algorithm.chunk_size`` None the step is chunked when it would
    not fit in ``memory_budget`` bytes (default: half the free memory), and refused if even
    chunks of one perturbation would not.
    """
    if memory_budget is not None and not memory_budget > 0:
        raise ValueError(f"the memory budget must be > 0, got {memory_budget!r}")
    out = Path(out_dir)
    if not multihost.is_primary():  # process 0 speaks and writes for all
        log, progress = (lambda *a, **k: None), False
    history = rundir.History(out, write=multihost.is_primary()) if resume else None
    if history is not None:
        config = history.config if config is None else config
    mesh = None
    if shard:
        mesh = jax.sharding.Mesh(np.array(jax.devices()), ("perturbations",))
        log(f"sharding the perturbation axis over {len(jax.devices())} device(s)")
    built = build(config, mesh)
    if history is not None:
        built = history.check_resume(built, force_config)
    run = built.run
    if run.seeds > 1 and (mesh is not None or jax.process_count() > 1):
        raise ValueError("--seeds N > 1 trains the seeds side by side on one process; it does "
                         "not combine with --shard, --cpu-devices or --distributed yet")
    k_init, k_train, k_eval, k_final = seed_keys(run)
    state = over_seeds(built.algorithm.init, run)(k_init)
    one_state = first_seed(state, run)
    built, memory_note = _fit_or_refuse(built, one_state, mesh, memory_budget, run.seeds)
    if history is None:
        error = None
        if multihost.is_primary():
            try:
                rundir.prepare(out)
                rundir.write_config(out, built.config, checkpoint_every or CHECKPOINT_EVERY)
            except OSError as e:
                error = e
        if not multihost.from_primary(int(error is None)):
            raise error or FileExistsError(f"process 0 could not create {out} (see its output)")
    if built.recommended:
        log(f"{built.config.component('env').name} recommends: " + ", ".join(
            f"{k}={v}" for k, v in built.recommended.items()))
    log(f"esmaml train: {describe(built)}")
    algo = built.algorithm
    per_seed = f" per seed, {run.seeds} seeds in one program" if run.seeds > 1 else ""
    log(f"  {algo.rollouts_per_step} rollouts, {algo.env_steps_per_step:,} env steps per "
        f"meta-step{per_seed}; run directory {out}")
    if memory_note:
        log(f"  memory: {memory_note}")
    if checkpoint_every is None:  # a resume keeps the run's own interval
        checkpoint_every = ((rundir.recorded_checkpoint_every(out) if history is not None
                             else None) or CHECKPOINT_EVERY)
    return _loop(built, out, state, (k_train, k_eval, k_final), history=history, mesh=mesh,
                 restart=restart, progress=progress, log=log, checkpoint_every=checkpoint_every,
                 keep=keep, should_stop=should_stop, tensorboard=tensorboard)


def seed_keys(run) -> tuple:
    """(init, train, eval, final) keys: PRNGKey(seed) split in four; with ``run.seeds`` N > 1,
    stacked [N, ...] for seeds seed, ..., seed + N - 1, so seed i of an N-seed run uses exactly
    the keys of a one-seed run with --seed seed + i."""
    if run.seeds == 1:
        return tuple(jax.random.split(jax.random.PRNGKey(run.seed), 4))
    keys = jnp.stack([jax.random.split(jax.random.PRNGKey(run.seed + i), 4)
                      for i in range(run.seeds)])
    return tuple(keys[:, j] for j in range(4))


def over_seeds(fn, run):
    """``fn`` vmapped over the seed axis when the run trains several seeds, else ``fn``."""
    return jax.vmap(fn) if run.seeds > 1 else fn


def first_seed(state, run):
    """The first seed's state of a (possibly multi-seed) run's state."""
    return jax.tree.map(lambda x: x[0], state) if run.seeds > 1 else state


def _fit_or_refuse(built: Built, state, mesh, memory_budget, seeds: int = 1):
    """(built, note): the perturbation axis chunked when the step would not fit in memory; a
    one-line refusal, naming the flags that help, when even chunks of one would not fit.
    ``state``: one seed's; ``seeds`` of them run side by side, so each gets 1/seeds of it."""
    alg = built.config.component("algorithm")
    chunk_setting = registry.algorithm(alg.name).chunk_setting
    if chunk_setting is None or alg.options[chunk_setting] is not None:
        return built, None
    budget = memory_budget if memory_budget is not None else memory.available_bytes() // 2
    budget //= seeds
    try:
        chunk_size, note = _fit_memory(built, state, mesh, budget)
    except Exception as e:  # noqa: BLE001 - XLA cannot even size the program
        first = str(e).splitlines()[0][:160] if str(e) else ""
        raise ValueError(f"the meta-step cannot be built at this size ({type(e).__name__}: "
                         f"{first}); lower -P, -K, -T or --horizon") from None
    if "still over the budget" in note:
        raise ValueError(f"the meta-step does not fit in memory even one perturbation at a time "
                         f"({note}); lower -P, -K, -T or --horizon, or raise --memory-budget-mb")
    # every process must compile the same program: process 0's choice holds
    chunk_size = multihost.from_primary(chunk_size or 0) or None
    if chunk_size is not None:
        built = _chunked(built, chunk_size, mesh)
    return built, note


def _wait(tree, what: str) -> None:
    """Block until ``tree`` is computed while still answering signals (a blocking
    device-to-host copy would hold them off until the computation ends). Ctrl-C outside the
    training chunks (no `StopFlag`) ends the process at once, saying ``what`` was lost."""
    try:
        wait_ready(tree)
    except KeyboardInterrupt:
        abort_now(f"SIGINT: aborted at once during {what}", 130)


def newest_checkpoint(out: Path) -> str:
    """Which checkpoint a resume would start from, in words."""
    steps = [int(p.name) for p in (out / "checkpoints").glob("*") if p.name.isdigit()]
    if not steps:
        return "no checkpoint was saved yet (a resume starts from the beginning)"
    return (f"the newest checkpoint is {out / 'checkpoints' / str(max(steps))} (meta-step "
            f"{max(steps)}); esmaml train --resume {out} continues from it")


def _stall_after() -> float | None:
    """Seconds without CPU use after which a phase is called stuck (CPU backend only)."""
    return 120.0 if jax.default_backend() == "cpu" else None


def evaluator(algo, run):
    """``evaluate(state, key, repeats=run.eval_repeats)``: ``algo.evaluate`` with ``repeats``
    adaptations per test task, every seed at once, from ONE compiled evaluation program: a
    multiple of ``run.eval_repeats`` (the final evaluation's 4x) runs as that many calls over
    slices of one draw of test tasks and keys (`base.evaluation_draw`): the same (task, key)
    items as one program of all the repeats, without compiling the rollouts a second time
    (about 15 s on a Brax family). The returns are those of that program bit for bit on the
    pure-JAX envs; on Brax they differ by float rounding, because a rollout's last bits
    depend on the batch shape it runs in and the contact dynamics amplify them (measured on
    halfcheetah, the same rollout in a batch of 1 and of 8: observations equal for 6 steps,
    6e-6 apart at step 7, 0.3 at step 20)."""
    per = run.eval_repeats
    program = compiler.jit(over_seeds(lambda s, d: algo.evaluate(s, None, draw=d), run))
    mean = jax.jit(over_seeds(base.finite_mean, run))
    axis = 2 if run.seeds > 1 else 1  # the repeat axis of the draw's keys and of pre / post

    draws: dict = {}  # repeats -> its jitted draw

    def evaluate(state, key, repeats: int = per):
        if repeats % per:
            raise ValueError(f"repeats must be a multiple of {per}, got {repeats}")
        if repeats not in draws:
            draws[repeats] = jax.jit(over_seeds(lambda k: base.evaluation_draw(
                algo.objective, k, None, repeats), run))
        tasks, keys = draws[repeats](key)
        parts = [program(state, (tasks, jax.lax.slice_in_dim(keys, i, i + per, axis=axis)))
                 for i in range(0, repeats, per)]
        if len(parts) == 1:
            return parts[0]
        pre, post = (jnp.concatenate([p[name] for p in parts], axis=axis)
                     for name in ("pre", "post"))
        return {"pre": pre, "post": post, "pre_mean": mean(pre), "post_mean": mean(post)}

    evaluate.program = program  # type: ignore[attr-defined]
    return evaluate


def replicate(tree, sharding):
    """Every leaf of ``tree`` (the same values on every process) as one array placed by
    ``sharding`` (e.g. replicated over a mesh that may span processes)."""
    def place(x):
        host = np.asarray(x)
        return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])

    return jax.tree.map(place, tree)


def _loop(built: Built, out: Path, state, keys, *, history, mesh, restart, progress, log,
          checkpoint_every, keep, should_stop, tensorboard) -> dict:
    algo, run = built.algorithm, built.run
    k_train, k_eval, k_final = keys
    replicated = (None if mesh is None else
                  jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec()))
    if replicated is not None:
        # the placement the sharded step returns: placed so from the start, every program
        # (evaluation, chunk) sees one input sharding and compiles once, not again after the
        # first chunk (two extra compilations, about 40 s on halfcheetah)
        state = replicate(state, replicated)
    init_state = state
    chunk = run.steps_per_chunk
    ckpt = Checkpointer(out / "checkpoints", max_to_keep=keep)
    done, env_steps, wall0 = 0, 0, 0.0
    if history is not None:
        restored = ckpt.restore_latest(state, log=log, sharding=replicated)
        if restored is None:
            history.check_restart(restart)
        else:
            state, meta = restored
            done, env_steps = int(meta["done"]), int(meta["env_steps"])
            wall0 = float(meta.get("wall_time", 0.0))
        if done >= run.num_steps and history.finished():
            ckpt.close()
            log(f"{out} already finished its {run.num_steps} meta-steps; nothing to do (pass "
                f"--steps N to train it further)")
            return history.summary()
        if multihost.is_primary():
            dropped = rundir.truncate_metrics(out / "metrics.csv", done)
            if dropped is not None:
                log(f"{out}/metrics.csv ended in a truncated row (meta-step "
                    f"{dropped.get('step')!r}, a write cut short); dropped it")
                history.record_dropped_row(dropped)
        history.record_resume(done, built)
        log(f"resuming {out} at meta-step {done}")

    def steps(n):
        """n meta-steps from the chunk's key fold_in(k_train, done), every seed at once."""
        run_n = lambda s, k: jax.lax.scan(algo.step, s, jax.random.split(k, n))
        return compiler.jit(over_seeds(run_n, run))

    evaluate = evaluator(algo, run)

    fold = (jax.random.fold_in if run.seeds == 1 else
            jax.vmap(jax.random.fold_in, in_axes=(0, None)))
    run_chunk = steps(chunk)
    seed_ids = list(range(run.seed, run.seed + run.seeds))
    primary = multihost.is_primary()
    writer_tb = _tensorboard(out) if tensorboard and primary else None
    t0 = time.perf_counter()
    with Heartbeat("compiling and running the evaluation of the initial policy", log,
                   stall_after=_stall_after()):
        init_eval = evaluate(init_state, k_eval)
        _wait(init_eval, "the evaluation of the initial policy")
    bar = Progress(run.num_steps, start=done) if progress else None
    since_ckpt, stopped, first = 0, False, True
    new_file = not (out / "metrics.csv").exists()
    fields = rundir.metrics_fields(out / "metrics.csv")
    if run.seeds > 1 and "seed" not in fields:
        raise ValueError(f"{out}/metrics.csv has no seed column: it was made before --seeds")
    metrics_file = (open(out / "metrics.csv", "a", newline="") if primary
                    else contextlib.nullcontext(io.StringIO()))  # rows only process 0 keeps
    per_seed = lambda x: np.asarray(x).reshape(run.seeds, -1)  # [seeds, ...] for any run
    with StopFlag(lambda: newest_checkpoint(out)) as flag, metrics_file as fh:
        writer = csv.DictWriter(fh, fieldnames=fields, extrasaction="ignore")
        if new_file:  # the curve starts at the untrained meta-policy (no training returns yet)
            writer.writeheader()
            pre0, post0 = per_seed(init_eval["pre_mean"]), per_seed(init_eval["post_mean"])
            for i, seed in enumerate(seed_ids):
                writer.writerow({"step": 0, "seed": seed, "wall_time": 0.0, "pre_return": "",
                                 "post_return": "", "test_pre": float(pre0[i, 0]),
                                 "test_post": float(post0[i, 0]), "num_nonfinite": 0,
                                 "skipped_updates": 0, "env_steps": 0})
        while done < run.num_steps:
            n = min(chunk, run.num_steps - done)
            if first:
                log(f"compiling the meta-step and running the first {n} (JAX caches the "
                    f"compiled program: the next run of this shape starts faster)...")
            label = ("compiling the meta-step and running the first chunk" if first else
                     f"meta-steps {done + 1}-{done + n}")
            with Heartbeat(label, log, stall_after=_stall_after()):
                # a shorter final chunk compiles once more; keep it exact
                advance = run_chunk if n == chunk else steps(n)
                state, m = advance(state, fold(k_train, done))
                wait_ready((state, m))
            done += n
            since_ckpt += n
            env_steps += n * algo.env_steps_per_step
            ev = evaluate(state, fold(k_eval, done))
            wall = wall0 + time.perf_counter() - t0
            seed_rows = [{
                "step": done, "seed": seed, "wall_time": round(wall, 3),
                "pre_return": float(np.nanmean(per_seed(m["pre_return"])[i])),
                "post_return": float(np.nanmean(per_seed(m["post_return"])[i])),
                "test_pre": float(per_seed(ev["pre_mean"])[i, 0]),
                "test_post": float(per_seed(ev["post_mean"])[i, 0]),
                "num_nonfinite": int(per_seed(m["num_nonfinite"])[i].sum()),
                "skipped_updates": int(per_seed(m["skipped_update"])[i].sum()),
                "env_steps": env_steps} for i, seed in enumerate(seed_ids)]
            writer.writerows(seed_rows)
            fh.flush()
            row = {k: (float(np.mean([r[k] for r in seed_rows])) if k not in (
                "skipped_updates", "num_nonfinite") else sum(r[k] for r in seed_rows))
                for k in ("pre_return", "post_return", "test_pre", "test_post",
                          "skipped_updates", "num_nonfinite")}
            if first:
                log(f"  first chunk (with compilation) took {time.perf_counter() - t0:.1f}s")
                first = False
            if writer_tb is not None:
                for name in row:
                    writer_tb.add_scalar(name, row[name], done)
            if row["skipped_updates"]:
                log(f"\nwarning: {row['skipped_updates']} meta-step(s) up to {done} had no finite"
                    f" return at all and left the parameters unchanged")
            if bar:
                over = f" (mean of {run.seeds} seeds)" if run.seeds > 1 else ""
                bar.update(done, f"train post {fmt(row['post_return'])} | test pre "
                                 f"{fmt(row['test_pre'])} post {fmt(row['test_post'])}{over}")
            stop = multihost.any_process(flag.raised or (should_stop is not None
                                                         and should_stop(done)))
            if since_ckpt >= checkpoint_every or stop or done >= run.num_steps:
                ckpt.save(done, state, {"done": done, "env_steps": env_steps,
                                        "wall_time": round(wall, 3)})
                since_ckpt = 0
            if stop and done < run.num_steps:
                stopped = True
                break
    if bar:
        bar.close()
    if writer_tb is not None:
        writer_tb.close()
    ckpt.close()
    elapsed = time.perf_counter() - t0
    if stopped:
        log(f"stopped at meta-step {done} of {run.num_steps}; checkpoint saved. Continue with: "
            f"esmaml train --resume {out}")
        return {"steps": done, "stopped": True}
    if primary:
        np.save(out / "params.npy", np.asarray(state.params))
    log(f"evaluating on the test tasks ({4 * run.eval_repeats} adaptations each)...")
    with Heartbeat("final evaluation", log, stall_after=_stall_after()):
        final = evaluate(state, k_final, 4 * run.eval_repeats)
        _wait(final, f"the final evaluation (params.npy after {done} meta-steps is saved)")
    summary = _summary(done, wall0 + elapsed, env_steps, init_eval, final, seed_ids)
    if primary:
        rundir.write_summary(out, summary)
    _report(summary, elapsed, env_steps, log)
    return summary


def _tensorboard(out: Path):
    try:
        from tensorboardX import SummaryWriter
    except ImportError:
        raise ValueError("--tensorboard needs tensorboardX: pip install tensorboardX") from None
    return SummaryWriter(str(out / "tensorboard"))


def _summary(done, elapsed, env_steps, init_eval, final, seed_ids=(0,)) -> dict:
    """Test returns before and after training: means over seeds (and over tasks x
    adaptations); with several seeds also each seed's and the spread over seeds."""
    mean = lambda x: float(np.mean(np.asarray(x)))
    out = {"steps": done, "wall_time_s": round(elapsed, 2), "env_steps": env_steps,
           "env_steps_per_s": round(env_steps / elapsed, 1),
           "initial_test_pre": mean(init_eval["pre_mean"]),
           "initial_test_post": mean(init_eval["post_mean"]),
           "final_test_pre": mean(final["pre_mean"]),
           "final_test_post": mean(final["post_mean"]),
           "final_test_post_std": float(jnp.nanstd(final["post"]))}
    if len(seed_ids) > 1:
        posts = np.asarray(final["post_mean"])
        out.update({"seeds": list(seed_ids),
                    "final_test_post_per_seed": [round(float(x), 3) for x in posts],
                    "final_test_pre_per_seed": [round(float(x), 3)
                                                for x in np.asarray(final["pre_mean"])],
                    "final_test_post_std_over_seeds": float(np.std(posts))})
    return out


def _report(summary: dict, elapsed: float, env_steps: int, log) -> None:
    rate = (f" ({summary['env_steps_per_s']:,.0f} env steps/s incl. compile and evaluation)"
            if env_steps else "")
    log(f"done in {elapsed:.1f}s{rate}")
    log(f"test return before training: pre-adaptation {fmt(summary['initial_test_pre'])}, "
        f"post-adaptation {fmt(summary['initial_test_post'])}")
    if "seeds" in summary:
        log(f"test return after training:  pre-adaptation {fmt(summary['final_test_pre'])}, "
            f"post-adaptation {fmt(summary['final_test_post'])} (mean of {len(summary['seeds'])}"
            f" seeds, std over seeds {summary['final_test_post_std_over_seeds']:.1f}; per seed: "
            + ", ".join(fmt(x) for x in summary["final_test_post_per_seed"]) + ")")
    else:
        log(f"test return after training:  pre-adaptation {fmt(summary['final_test_pre'])}, "
            f"post-adaptation {fmt(summary['final_test_post'])} "
            f"(+- {summary['final_test_post_std']:.1f} over tasks x adaptations)")


def load_run(run_dir: str | os.PathLike, log=print):
    """(built, state) of a run directory, at its newest good checkpoint. Read-only: nothing in
    the run directory is changed (a corrupt checkpoint is reported and skipped in place)."""
    out = Path(run_dir)
    built = build(rundir.read_config(out))
    template = over_seeds(built.algorithm.init, built.run)(seed_keys(built.run)[0])
    if not (out / "checkpoints").is_dir():
        raise FileNotFoundError(f"{out} has no checkpoint yet")
    ckpt = Checkpointer(out / "checkpoints", read_only=True)
    try:
        restored = ckpt.restore_latest(template, log=log)
    finally:
        ckpt.close()
    if restored is None:
        raise FileNotFoundError(f"{out} has no checkpoint yet")
    return built, restored[0]


