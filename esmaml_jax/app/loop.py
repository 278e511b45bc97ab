"""The one impure host loop: scanned chunks of meta-steps, evaluation, logging, checkpoints.

Everything inside a chunk is one compiled program (``lax.scan`` over the jitted meta-step); the
host only touches results between chunks to evaluate, log and draw the progress bar.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import io
import os
import time
from pathlib import Path

import jax
import numpy as np

from esmaml_jax import compiler
from esmaml_jax.app import memory, multihost, registry, rundir
from esmaml_jax.app.build import Built, build
from esmaml_jax.app.checkpoint import Checkpointer
from esmaml_jax.app.config import Config
from esmaml_jax.app.evaluation import evaluator, first_seed, over_seeds, report, seed_keys
from esmaml_jax.app.evaluation import summary as summary_of
from esmaml_jax.app.progress import Heartbeat, Progress, StopFlag, abort_now, fmt, wait_ready


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
    built, memory_note = memory.fit_or_refuse(built, one_state, mesh, memory_budget, run.seeds)
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
    # SIGINT / SIGTERM: stop after the chunk with a checkpoint; again: at once (see StopFlag)
    with StopFlag(lambda: newest_checkpoint(out)) as flag:
        return _loop(built, out, state, (k_train, k_eval, k_final), flag, history=history,
                     mesh=mesh, restart=restart, progress=progress, log=log,
                     checkpoint_every=checkpoint_every, keep=keep, should_stop=should_stop,
                     tensorboard=tensorboard)


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


def replicate(tree, sharding):
    """Every leaf of ``tree`` (the same values on every process) as one array placed by
    ``sharding`` (e.g. replicated over a mesh that may span processes)."""
    def place(x):
        host = np.asarray(x)
        return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])

    return jax.tree.map(place, tree)


def _loop(built: Built, out: Path, state, keys, flag, *, history, mesh, restart, progress, log,
          checkpoint_every, keep, should_stop, tensorboard) -> dict:
    algo, run = built.algorithm, built.run
    k_train, k_eval, k_final = keys
    state, replicated = _placed(state, mesh)
    init_state = state
    chunk = run.steps_per_chunk
    ckpt = Checkpointer(out / "checkpoints", max_to_keep=keep)
    done, env_steps, wall0 = 0, 0, 0.0
    if history is not None:
        resumed = _resume(built, out, ckpt, history, state, replicated, restart, log)
        if isinstance(resumed, dict):  # finished already: its summary
            return resumed
        state, done, env_steps, wall0 = resumed

    steps = functools.partial(_steps, algo, run)
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
    new_file, fields, metrics_file = _metrics_file(out, run, primary)
    with metrics_file as fh:
        writer = csv.DictWriter(fh, fieldnames=fields, extrasaction="ignore")
        if new_file:  # the curve starts at the untrained meta-policy (no training returns yet)
            writer.writeheader()
            writer.writerows(_rows(seed_ids, 0, 0.0, 0, None, init_eval))
        while done < run.num_steps:
            n = min(chunk, run.num_steps - done)
            # a shorter final chunk compiles once more; keep it exact
            advance = run_chunk if n == chunk else steps(n)
            state, m = _advance(advance, state, fold(k_train, done), done, n, first, log)
            done += n
            since_ckpt += n
            env_steps += n * algo.env_steps_per_step
            ev = evaluate(state, fold(k_eval, done))
            wall = wall0 + time.perf_counter() - t0
            seed_rows = _rows(seed_ids, done, wall, env_steps, m, ev)
            writer.writerows(seed_rows)
            fh.flush()
            row = _over_seeds(seed_rows)
            if first:
                log(f"  first chunk done {time.perf_counter() - t0:.1f}s after training "
                    f"started (the initial evaluation and compilation included)")
                first = False
            _show(row, done, run.seeds, bar, writer_tb, log)
            stop = multihost.any_process(flag.raised or (should_stop is not None
                                                         and should_stop(done)))
            if since_ckpt >= checkpoint_every or stop or done >= run.num_steps:
                with flag.saving():  # a second signal waits for the save to complete
                    ckpt.save(done, state, {"done": done, "env_steps": env_steps,
                                            "wall_time": round(wall, 3)})
                since_ckpt = 0
            if stop and done < run.num_steps:
                stopped = True
                break
    for closing in (bar, writer_tb, ckpt):
        if closing is not None:
            closing.close()
    elapsed = time.perf_counter() - t0
    if stopped:
        log(f"stopped at meta-step {done} of {run.num_steps}; checkpoint saved. Continue with: "
            f"esmaml train --resume {out}")
        return {"steps": done, "stopped": True}
    if primary:
        np.save(out / "params.npy", np.asarray(state.params))
    flag.abort_on_signal(f"the final evaluation (params.npy after {done} meta-steps is saved)")
    return _final(out, run, evaluate, state, k_final, init_eval, (done, env_steps),
                  (wall0, elapsed), log)


def _placed(state, mesh):
    """(state, the replicated sharding or None): with a mesh, the state replicated over it,
    the placement the sharded step returns, so every program (evaluation, chunk) sees one
    input sharding and compiles once, not again after the first chunk (two extra
    compilations, about 40 s on halfcheetah)."""
    if mesh is None:
        return state, None
    replicated = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
    return replicate(state, replicated), replicated


def _steps(algo, run, n: int):
    """The program of ``n`` meta-steps from a chunk's key, every seed at once."""
    run_n = lambda s, k: jax.lax.scan(algo.step, s, jax.random.split(k, n))
    return compiler.jit(over_seeds(run_n, run))


def _advance(program, state, key, done: int, n: int, first: bool, log):
    """(state, metrics) after the chunk of ``n`` meta-steps, saying what it waits for."""
    if first:
        log(f"compiling the meta-step and running the first {n} (JAX caches the compiled "
            f"program: the next run of this shape starts faster)...")
    label = ("compiling the meta-step and running the first chunk" if first else
             f"meta-steps {done + 1}-{done + n}")
    with Heartbeat(label, log, stall_after=_stall_after()):
        state, m = program(state, key)
        wait_ready((state, m))
    return state, m


def _metrics_file(out: Path, run, primary: bool):
    """(new file?, its columns, the file to append rows to: a sink on processes but 0)."""
    new_file = not (out / "metrics.csv").exists()
    fields = rundir.metrics_fields(out / "metrics.csv")
    if run.seeds > 1 and "seed" not in fields:
        raise ValueError(f"{out}/metrics.csv has no seed column: it was made before --seeds")
    metrics_file = (open(out / "metrics.csv", "a", newline="") if primary
                    else contextlib.nullcontext(io.StringIO()))  # rows only process 0 keeps
    return new_file, fields, metrics_file


def _show(row: dict, done: int, seeds: int, bar, writer_tb, log) -> None:
    """A chunk's row on the progress bar, in TensorBoard, and a warning for skipped steps."""
    if writer_tb is not None:
        for name in row:
            writer_tb.add_scalar(name, row[name], done)
    if row["skipped_updates"]:
        log(f"\nwarning: {row['skipped_updates']} meta-step(s) up to {done} had no finite"
            f" return at all and left the parameters unchanged")
    if bar:
        over = f" (mean of {seeds} seeds)" if seeds > 1 else ""
        bar.update(done, f"train post {fmt(row['post_return'])} | test pre "
                         f"{fmt(row['test_pre'])} post {fmt(row['test_post'])}{over}")


def _resume(built: Built, out: Path, ckpt, history, state, replicated, restart, log):
    """(state, done, env_steps, wall time so far) from the newest checkpoint, or the run's
    summary when it already finished; a truncated last metrics row is dropped and recorded."""
    done, env_steps, wall0 = 0, 0, 0.0
    if ckpt.removed_partial:
        log(f"removed the unfinished checkpoint save(s) {', '.join(ckpt.removed_partial)} "
            f"(a save cut short; never a checkpoint)")
    restored = ckpt.restore_latest(state, log=log, sharding=replicated)
    if restored is None:
        history.check_restart(restart)
    else:
        state, meta = restored
        done, env_steps = int(meta["done"]), int(meta["env_steps"])
        wall0 = float(meta.get("wall_time", 0.0))
    if done >= built.run.num_steps and history.finished():
        ckpt.close()
        log(f"{out} already finished its {built.run.num_steps} meta-steps; nothing to do (pass "
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
    return state, done, env_steps, wall0


def _rows(seed_ids, done: int, wall: float, env_steps: int, m, ev) -> list[dict]:
    """metrics.csv's rows (one per seed) after ``done`` meta-steps: the chunk's training
    metrics ``m`` (None for the row of the untrained policy) and the evaluation ``ev``."""
    per_seed = lambda x: np.asarray(x).reshape(len(seed_ids), -1)  # [seeds, ...] for any run
    rows = []
    for i, seed in enumerate(seed_ids):
        rows.append({
            "step": done, "seed": seed, "wall_time": round(wall, 3),
            "pre_return": "" if m is None else float(np.nanmean(per_seed(m["pre_return"])[i])),
            "post_return": "" if m is None else float(np.nanmean(per_seed(m["post_return"])[i])),
            "test_pre": float(per_seed(ev["pre_mean"])[i, 0]),
            "test_post": float(per_seed(ev["post_mean"])[i, 0]),
            "num_nonfinite": 0 if m is None else int(per_seed(m["num_nonfinite"])[i].sum()),
            "skipped_updates": 0 if m is None else int(per_seed(m["skipped_update"])[i].sum()),
            "env_steps": env_steps})
    return rows


def _over_seeds(seed_rows: list[dict]) -> dict:
    """One row for the progress line: returns averaged over seeds, counts summed."""
    counts = ("skipped_updates", "num_nonfinite")
    return {k: (sum(r[k] for r in seed_rows) if k in counts
                else float(np.mean([r[k] for r in seed_rows])))
            for k in ("pre_return", "post_return", "test_pre", "test_post", *counts)}


def _final(out: Path, run, evaluate, state, k_final, init_eval, steps, times, log) -> dict:
    """The final evaluation (4x the repeats), recorded in summary.json and reported."""
    (done, env_steps), (wall0, elapsed) = steps, times
    log(f"evaluating on the test tasks ({4 * run.eval_repeats} adaptations each)...")
    t0 = time.perf_counter()
    with Heartbeat("final evaluation", log, stall_after=_stall_after()):
        final = evaluate(state, k_final, 4 * run.eval_repeats)
        _wait(final, f"the final evaluation (params.npy after {done} meta-steps is saved)")
    seed_ids = list(range(run.seed, run.seed + run.seeds))
    summary = summary_of(done, wall0 + elapsed, env_steps, init_eval, final, seed_ids)
    summary["final_evaluation_s"] = round(time.perf_counter() - t0, 2)
    if multihost.is_primary():
        rundir.write_summary(out, summary)
    report(summary, elapsed, env_steps, log)
    return summary


def _tensorboard(out: Path):
    try:
        from tensorboardX import SummaryWriter
    except ImportError:
        raise ValueError("--tensorboard needs tensorboardX: pip install tensorboardX") from None
    return SummaryWriter(str(out / "tensorboard"))


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


