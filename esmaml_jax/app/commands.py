"""The subcommands other than ``train``: eval, bench, plot, render, compare (what each runs and
prints). `esmaml_jax.app.cli` parses the command line and dispatches here."""

from __future__ import annotations

import json
import os
from pathlib import Path

from esmaml_jax import compiler
from esmaml_jax.app import registry, rundir
from esmaml_jax.app.loop import load_run, over_seeds
from esmaml_jax.app.progress import wait_ready


def enable_compile_cache(directory: str | None = None) -> str:
    """Turn on JAX's persistent compilation cache (a second run skips most compile time)."""
    import jax

    directory = directory or os.environ.get(
        "ESMAML_COMPILE_CACHE", os.path.expanduser("~/.cache/esmaml-jax/xla"))
    jax.config.update("jax_compilation_cache_dir", directory)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
    return directory


EVAL_STREAM = 0x65766C  # "evl": the key stream of `esmaml eval`


def _writable(run_dir: Path, what: str, hint: str = "") -> None:
    if not run_dir.is_dir():
        raise FileNotFoundError(f"{run_dir} is not a run directory")
    if not os.access(run_dir, os.W_OK):
        raise PermissionError(f"{run_dir} is read-only: cannot record {what}{hint}")


def _check_memory(compiled, what: str) -> None:
    """A one-line error when a compiled program's buffers exceed the device's free memory."""
    from esmaml_jax.app import memory

    need, free = memory.compiled_bytes(compiled), memory.available_bytes()
    if need is not None and need > free:
        raise ValueError(f"{what} needs {need / 2**20:,.0f} MB of memory, more than the "
                         f"{free / 2**20:,.0f} MB free; ask for fewer")


def _heartbeat(label: str):
    """Say every 4 s that ``label`` is still running, with its elapsed time (4, not 5: with the
    moment before the phase starts, no silence reaches 5 s)."""
    from esmaml_jax.app.progress import Heartbeat

    return Heartbeat(label, lambda text: print(text, flush=True), every=4.0)


def cmd_eval(args) -> int:
    import numpy as np

    for flag, v in (("--repeats", args.repeats), ("--tasks", args.tasks)):
        if v is not None and v < 1:
            raise ValueError(f"{flag} must be >= 1, got {v}")
    run_dir = Path(args.run_dir)
    if not args.no_save:
        _writable(run_dir, "the evaluation", " (pass --no-save to print it only)")
    if args.compile_cache:  # a second `esmaml eval` of a run loads its program from the cache
        enable_compile_cache()
    with _heartbeat("loading the run (its task family and newest checkpoint)"):
        built, state = load_run(run_dir)
    step = int(np.asarray(state.step).reshape(-1)[0])  # (every seed of a run is at this step)
    result = args.repeats is None and args.tasks is None and args.seed is None
    # the run's recorded result, read (and a damaged record named) before the evaluation runs
    summary = rundir.read_summary(run_dir) if result else None
    with _heartbeat("compiling and running the evaluation"):
        ev, repeats, what = (_final_evaluation(built, state) if result
                             else _independent_evaluation(built, state, args))
        wait_ready(ev)  # (signals still answered while it runs)
    seeds = built.run.seeds
    pre = np.asarray(ev["pre"]).reshape(seeds, -1, repeats)
    post = np.asarray(ev["post"]).reshape(seeds, -1, repeats)
    env_name = built.config.component("env").name
    alg = built.config.component("algorithm")
    policy = registry.algorithm(alg.name).policy_note(alg.options)
    several = f", {seeds} seeds" if seeds > 1 else ""
    print(f"{args.run_dir}: {env_name}, meta-step {step}, {pre.shape[1]} test tasks x "
          f"{repeats} adaptations{several}{policy}: {what}")
    report = _print_evaluation(pre, post, built.run)
    if result:
        _against_summary(summary, step, float(np.mean(np.asarray(ev["post_mean"]))))
    if args.no_save:
        return 0
    # One file per (step, settings): an evaluation never replaces another one.
    target = run_dir / (f"eval-step{step}-result.json" if result else
                        f"eval-step{step}-tasks{args.tasks or 'all'}-repeats{repeats}-"
                        f"seed{args.seed or 0}.json")
    if target.exists():
        print(f"  (same evaluation already recorded in {target}; left as it is)")
        return 0
    report.update({"step": step, "tasks": args.tasks, "repeats": repeats,
                   "seed": None if result else (args.seed or 0), "evaluation": what})
    target.write_text(json.dumps(report, indent=2) + "\n")
    print(f"  recorded in {target}")
    return 0


def _final_evaluation(built, state):
    """The run's result: the evaluation `esmaml train` ends with (the family's test tasks,
    4 x run.eval_repeats adaptations each, the run's own final key stream, the same program),
    so its number is the one train printed and summary.json holds."""
    from esmaml_jax.app.evaluation import evaluator, seed_keys

    run = built.run
    repeats = 4 * run.eval_repeats
    evaluate = evaluator(built.algorithm, run)
    ev = evaluate(state, seed_keys(run)[3], repeats)
    return ev, repeats, ("the run's result (its final evaluation: the test tasks, "
                         f"{repeats} adaptations each, the run's final key stream)")


def _independent_evaluation(built, state, args):
    """An evaluation with its own key stream (``--seed``) and sizes: not the run's result."""
    import jax

    repeats = args.repeats or 16
    # A stream of its own: training splits PRNGKey(seed) into its init/train/eval/final keys,
    # so folding in a tag keeps `esmaml eval --seed S` clear of every key the run used. Every
    # seed of a multi-seed run gets the same key: the same test tasks and rollouts (paired).
    key = jax.random.fold_in(jax.random.PRNGKey(args.seed or 0), EVAL_STREAM)
    ev_one = lambda s: built.algorithm.evaluate(s, key, num_tasks=args.tasks,
                                                num_repeats=repeats)
    program = compiler.jit(over_seeds(ev_one, built.run)).lower(state).compile()
    _check_memory(program, f"--tasks {args.tasks or 'all'} x --repeats {repeats}")
    return program(state), repeats, (f"an independent evaluation (eval key stream, seed "
                                     f"{args.seed or 0}; not the run's recorded result)")


def _print_evaluation(pre, post, run) -> dict:
    """Per task (or per seed), overall and the paired adaptation gain; the report's numbers."""
    import numpy as np

    seeds = pre.shape[0]
    if seeds == 1:
        for i in range(pre.shape[1]):
            print(f"  task {i}: pre {np.nanmean(pre[0, i]):9.2f}  post "
                  f"{np.nanmean(post[0, i]):9.2f} +- {np.nanstd(post[0, i]):.2f}")
    else:
        for j, seed in enumerate(range(run.seed, run.seed + seeds)):
            print(f"  seed {seed}: pre {np.nanmean(pre[j]):9.2f}  post {np.nanmean(post[j]):9.2f}"
                  f" +- {np.nanstd(post[j]):.2f} (over tasks x adaptations)")
        per_seed = np.nanmean(post.reshape(seeds, -1), axis=1)
        print(f"  over seeds: post {per_seed.mean():.2f} +- {per_seed.std():.2f} (std of the "
              f"{seeds} seeds' means), min {per_seed.min():.2f}, max {per_seed.max():.2f}")
    print(f"  all: pre {np.nanmean(pre):.2f} +- {np.nanstd(pre):.2f}, post {np.nanmean(post):.2f}"
          f" +- {np.nanstd(post):.2f}")
    gain = (post - pre)[np.isfinite(post - pre)]
    gain_se = float(np.std(gain) / np.sqrt(max(gain.size, 1)))
    print(f"  adaptation gain (post - pre, paired): {np.mean(gain):.2f} +- {gain_se:.2f} "
          f"(standard error over {gain.size} task x adaptation pairs)")
    report = {"pre_mean": float(np.nanmean(pre)), "gain_mean": float(np.mean(gain)),
              "gain_stderr": gain_se, "pre_std": float(np.nanstd(pre)),
              "post_mean": float(np.nanmean(post)), "post_std": float(np.nanstd(post)),
              "pre": (pre[0] if seeds == 1 else pre).tolist(),
              "post": (post[0] if seeds == 1 else post).tolist()}
    if seeds > 1:
        report["seeds"] = list(range(run.seed, run.seed + seeds))
        report["post_mean_per_seed"] = np.nanmean(post.reshape(seeds, -1), axis=1).tolist()
    return report


def _against_summary(summary: dict | None, step: int, post: float) -> None:
    """Say whether summary.json (train's record of the result, `rundir.read_summary`; None: the
    run has none) holds this number."""
    if summary is None:
        print("  (no summary.json: the run has not finished; this is its checkpoint's result)")
        return
    recorded = summary.get("final_test_post")
    if summary.get("steps") != step or not isinstance(recorded, (int, float)):
        print(f"  (summary.json holds the result at meta-step {summary.get('steps')}, not "
              f"{step})")
        return
    same = abs(recorded - post) <= 1e-6 * max(1.0, abs(recorded))
    print(f"  the run's result: post-adaptation {post:.2f}; summary.json: {recorded:.2f}"
          + (" (the same)" if same else " (DIFFERENT: a Brax rollout's last bits depend on "
                                         "the batch it runs in)"))


def cmd_bench(args) -> int:
    if args.compile_cache:
        enable_compile_cache()
    return BENCHES[args.algorithm](args)


def _bench_es(args) -> int:
    from esmaml_jax.app import bench

    cfg = bench.BenchConfig(env=args.env or "four_corners", policy=args.policy or "linear",
                            num_perturbations=args.perturbations,
                            num_queries=args.queries, tasks_per_perturbation=args.tasks,
                            horizon=args.horizon, repeats=args.repeats,
                            chunk_size=args.perturbation_chunk,
                            operator=args.operator or "es_gradient")
    print(f"compiling {cfg.env}'s step and the programs it is timed against, then "
          f"{cfg.repeats} interleaved rounds...", flush=True)
    with _heartbeat("the benchmark"):
        r = bench.run(cfg)
    print(f"{cfg.env}, {cfg.policy} policy (D={r['num_params']}), P={cfg.num_perturbations} "
          f"antithetic, T={cfg.tasks_per_perturbation}, K={cfg.num_queries}, H={cfg.horizon}: "
          f"{r['rollouts_per_step']} rollouts, {r['env_steps_per_step']:,} env steps per step")
    cache = " (persistent cache on: may be a cache load)" if args.compile_cache else ""
    batches = " + ".join(f"{b['executions']} x {b['size']}" for b in r["rollout_batches"])
    print(f"  fused   : {r['fused_meta_steps_per_s']:.2f} meta-steps/s, "
          f"{r['fused_env_steps_per_s']:,.0f} env steps/s (compile {r['fused_compile_s']} s"
          f"{cache})")
    print(f"  limit   : {r['limit_env_steps_per_s']:,.0f} env steps/s (the step's own rollout "
          f"batches, {batches}, bare)")
    o = r["outside_s_spread"]
    print(f"  outside : {o['median'] * 1e3:.2f} ms per step without its rollouts (each replaced "
          f"by a stand-in); (limit + outside) / fused "
          f"{r['ratio_fused_over_limit_plus_outside']:.2f}")
    print(f"  unfused : {r['unfused_env_steps_per_s']:,.0f} env steps/s (one dispatch per pair)")
    f, lim = r["fused_step_s_spread"], r["ratio_fused_over_limit_spread"]
    load = ", ".join(f"{x:.1f}" for x in r["load_average"][0])
    print(f"  {r['rounds']} interleaved rounds: fused step {f['median'] * 1e3:.1f} ms (min "
          f"{f['min'] * 1e3:.1f}, max {f['max'] * 1e3:.1f}); fused/limit per round "
          f"{lim['min']:.2f}-{lim['max']:.2f}; load average {load}")
    print(f"  fused/limit {r['ratio_fused_over_limit']:.2f}, fused/unfused "
          f"{r['ratio_fused_over_unfused']:.1f}x, XLA buffers {r['fused_xla_buffer_mb']:.1f} MB, "
          f"peak RSS {r['peak_rss_mb']:.0f} MB")
    b = r["breakdown"]
    print(f"  unfused per call: {b['unfused_per_call_s'] * 1e6:.0f} us, of which "
          f"{100 * b['host_and_dispatch_share_of_unfused']:.0f}% host work and dispatch; "
          f"batching gains {b['batching_gain']:.2f}x on {', '.join(r['devices'])}")
    if args.json:
        Path(args.json).write_text(json.dumps(r, indent=2) + "\n")
    return 0


def _bench_pg(args) -> int:
    from esmaml_jax.app import bench_pg

    if args.operator is not None:
        raise ValueError("--operator is for --algorithm zero_order (PG-MAML adapts by its "
                         "own policy-gradient step)")

    env = "navigation_2d" if args.env is None else args.env
    policy = "mlp" if args.policy is None else args.policy
    cfg = bench_pg.PGBenchConfig(env=env, policy=policy, num_tasks=args.num_tasks,
                              num_queries=args.queries, horizon=args.horizon,
                              rounds=args.repeats, es_perturbations=args.perturbations)
    print(f"compiling PG-MAML's and ES-MAML's steps on {env}, then {cfg.rounds} interleaved "
          f"rounds...", flush=True)
    with _heartbeat("the benchmark"):
        r = bench_pg.run_pg(cfg)
    print(f"{env}, {policy} policy (Gaussian, D={r['num_params']}), n={cfg.num_tasks} tasks, "
          f"K={cfg.num_queries} trajectories, H={cfg.horizon}: {r['rollouts_per_step']} "
          f"episodes, {r['env_steps_per_step']:,} env steps per PG-MAML meta-step; "
          f"{cfg.rounds} interleaved rounds, load average "
          f"{', '.join(f'{x:.1f}' for x in r['load_average'])}")
    names = {"limit": "bare stochastic rollouts (limit)", "trpo": "PG-MAML, TRPO outer",
             "vpg": "PG-MAML, VPG outer",
             "es_maml": f"ES-MAML zero_order (P={cfg.es_perturbations} antithetic)"}
    for key in ("limit", "es_maml", "trpo", "vpg"):
        row = r["rows"][key]
        t = row["step_s"]
        print(f"  {names[key]:42s} {row['env_steps_per_s']:>14,.0f} env steps/s  "
              f"{t['median'] * 1e3:8.1f} ms/step (min {t['min'] * 1e3:.1f}, max "
              f"{t['max'] * 1e3:.1f})  x{row['ratio_to_limit']:.3f} of the limit  compile "
              f"{row['compile_s']} s")
    if args.json:
        Path(args.json).write_text(json.dumps(r, indent=2) + "\n")
    return 0


# esmaml bench --algorithm: the report each algorithm's benchmark prints
BENCHES = {"zero_order": _bench_es, "pg_maml": _bench_pg}


def cmd_plot(args) -> int:
    from esmaml_jax.app import plots

    _writable(Path(args.run_dir), "its pictures")
    with _heartbeat("drawing (the trajectories compile the adaptation)"):
        paths = plots.plot_run(args.run_dir)
    for path in paths:
        print(f"wrote {path}")
    return 0


def cmd_render(args) -> int:
    from esmaml_jax.app import plots

    ids = None
    if args.tasks is not None:
        try:
            ids = [int(t) for t in args.tasks.split(",") if t.strip()]
        except ValueError:
            raise ValueError(f"--tasks takes comma-separated test task numbers, got "
                             f"{args.tasks!r}") from None
    if args.adaptations < 1:
        raise ValueError(f"--adaptations must be >= 1, got {args.adaptations}")
    _writable(Path(args.run_dir), "the pictures")
    with _heartbeat("compiling and running the episodes"):
        paths = plots.render(args.run_dir, ids, args.adaptations)
    for path in paths:
        print(f"wrote {path}")
    return 0


def cmd_compare(args) -> int:
    from esmaml_jax.app import compare as plots

    groups = plots.parse_groups(args.runs)
    path, table = plots.compare(groups, args.out, x=args.x)
    print(f"{'run (seeds)':40s} {'final test post-adaptation':>28s} {'final test pre':>16s}")
    for label, n, post, post_sd, pre, pre_sd, source in table:
        print(f"{label + f' ({n})':40s} {post:19.2f} +- {post_sd:6.2f} {pre:9.2f} +- {pre_sd:.2f}"
              f"  ({source})")
    print(f"wrote {path}")
    return 0


