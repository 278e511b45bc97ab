"""``esmaml train | eval | plot | list``: the command-line front end.

Bad input (unknown names, sigma <= 0, K < 1, a run directory that holds another run, a missing or
corrupt config or checkpoint) prints one ``esmaml: error: ...`` line and exits with code 2;
nothing is overwritten. Settings come from the defaults, then ``--config FILE`` (JSON), then the
flags given on the command line; ``--resume RUN_DIR`` starts from the run's saved config.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

from esmaml_jax import train as train_lib
from esmaml_jax.checkpoint import CheckpointError


def _add_train_args(p: argparse.ArgumentParser) -> None:
    d = train_lib.TrainConfig()
    p.add_argument("--env", default=d.env, help="task family (see `esmaml list`)")
    p.add_argument("--algorithm", default=d.algorithm, help="zero_order | first_order")
    p.add_argument("--no-hessian", action="store_false", dest="hessian",
                   help="first_order: FO-NoHessian (H = 0)")
    p.add_argument("--hessian-estimator", default=d.hessian_estimator, dest="hessian_estimator",
                   help="first_order: mc | antithetic")
    p.add_argument("--hessian-queries", type=int, default=d.hessian_queries,
                   dest="hessian_queries",
                   help="first_order: directions for the Hessian (default: --num-queries); its "
                        "noise falls like 1/sqrt(this), see benchmarks/RESULTS.md")
    p.add_argument("--hessian-samples", default=d.hessian_samples, dest="hessian_samples",
                   help="first_order: independent (Alg. 5: H has its own directions) | shared "
                        "(the authors' code: H reuses d1's directions; biased)")
    p.add_argument("--num-tasks", type=int, default=d.num_tasks, dest="num_tasks",
                   help="first_order: tasks per meta-step")
    p.add_argument("--adaptation", default=d.adaptation, help="adaptation operator U(theta, T)")
    p.add_argument("--policy", default=d.policy, help="linear | mlp")
    p.add_argument("--policy-init", default=d.policy_init, dest="policy_init",
                   help="zero_output (output layer 0: the policy starts standing still) | "
                        "reference (the authors' code: ReLU hidden, N(0, 2/obs) weights)")
    p.add_argument("--hidden", default=",".join(map(str, d.hidden_sizes)),
                   help="hidden sizes of the mlp policy, comma-separated")
    p.add_argument("-K", "--queries", type=int, default=d.num_queries, dest="num_queries",
                   help="inner queries K per adaptation")
    p.add_argument("-P", "--perturbations", type=int, default=d.num_perturbations,
                   dest="num_perturbations", help="outer perturbations per meta-step")
    p.add_argument("-T", "--tasks", type=int, default=d.tasks_per_perturbation,
                   dest="tasks_per_perturbation", help="tasks per perturbation")
    p.add_argument("--sigma", type=float, default=d.sigma, help="outer precision")
    p.add_argument("--inner-sigma", type=float, default=d.inner_sigma, dest="inner_sigma")
    p.add_argument("--alpha", type=float, default=d.step_size, dest="step_size",
                   help="adaptation step size")
    p.add_argument("--lr", type=float, default=d.learning_rate, dest="learning_rate",
                   help="outer SGD step size")
    p.add_argument("--estimator", default=d.estimator, help="outer: antithetic|forward_fd|vanilla")
    p.add_argument("--inner-estimator", default=d.inner_estimator, dest="inner_estimator")
    p.add_argument("--inner-sampler", default=d.inner_sampler, dest="inner_sampler",
                   help="directions of the es_gradient operator: gaussian|orthogonal|dpp|dpp_reference")
    p.add_argument("--shaping", default=d.shaping, help="zscore | centered_rank | none")
    p.add_argument("--no-state-norm", action="store_false", dest="normalize_observations",
                   help="turn observation normalization off")
    p.add_argument("--horizon", type=int, default=None)
    p.add_argument("--steps", type=int, default=d.num_steps, dest="num_steps",
                   help="meta-steps")
    p.add_argument("--chunk", type=int, default=d.steps_per_chunk, dest="steps_per_chunk",
                   help="meta-steps per compiled scan chunk (progress is shown between chunks)")
    p.add_argument("--perturbation-chunk", type=int, default=None, dest="chunk_size",
                   help="evaluate the perturbation axis in chunks of this size (bounds memory); "
                        "unset: chunks only if the step would not fit in --memory-budget-mb")
    p.add_argument("--eval-repeats", type=int, default=d.eval_repeats, dest="eval_repeats",
                   help="adaptations per test task in each evaluation (4x at the end)")
    p.add_argument("--seed", type=int, default=d.seed)
    # Only flags the user gives override the config: the defaults above are shown in --help but
    # not applied here (they are the TrainConfig defaults anyway).
    for action in p._actions:
        if action.dest in _FIELDS or action.dest == "hidden":
            action.help = f"{action.help or ''} (default: {action.default})".strip()
            action.default = argparse.SUPPRESS
    p.add_argument("--config", default=None, help="JSON config file; flags override it")
    p.add_argument("--out", default=None, help="run directory (default: runs/<env>-<time>)")
    p.add_argument("--resume", default=None, metavar="RUN_DIR",
                   help="continue the run in RUN_DIR from its newest good checkpoint")
    p.add_argument("--force-config", action="store_true",
                   help="with --resume: accept settings that differ from the run's config")
    p.add_argument("--checkpoint-every", type=int, default=100, dest="checkpoint_every",
                   help="meta-steps between checkpoints (default: 100)")
    p.add_argument("--tensorboard", action="store_true",
                   help="also write TensorBoard event files (needs tensorboardX)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--shard", action="store_true",
                   help="shard the perturbation axis over all devices (one program)")
    p.add_argument("--memory-budget-mb", type=float, default=None, dest="memory_budget_mb",
                   help="memory the meta-step may use before the perturbation axis is chunked "
                        "(default: half the device's free memory)")
    p.add_argument("--distributed", action="store_true",
                   help="multi-host: call jax.distributed.initialize() first (coordinator, "
                        "process count and id from the cluster environment); combine with "
                        "--shard")
    p.add_argument("--no-compile-cache", action="store_false", dest="compile_cache",
                   help="do not use JAX's persistent compilation cache "
                        "(default: ~/.cache/esmaml-jax/xla)")


_FIELDS = set(train_lib.TrainConfig.__dataclass_fields__)
# Settings a resumed run may change without --force-config (they do not alter past results).
_RESUMABLE_CHANGES = {"num_steps"}


def _config_from_args(args: argparse.Namespace, base: train_lib.TrainConfig):
    values = {k: v for k, v in vars(args).items() if k in _FIELDS}
    if "hidden" in vars(args):
        values["hidden_sizes"] = train_lib.parse_hidden(args.hidden)
    return dataclasses.replace(base, **values)


def _with_family_defaults(config, args):
    """Apply the task family's suggested settings (``family.defaults``) to every field the user
    set neither in --config nor by a flag, and say so."""
    import envs

    if config.env not in envs.names():
        return config  # validate() reports the unknown name
    explicit = {k for k in vars(args) if k in _FIELDS}
    if "hidden" in vars(args):
        explicit.add("hidden_sizes")
    if args.config:
        explicit |= set(json.loads(Path(args.config).read_text()))
    suggested = {k: v for k, v in envs.make(config.env).defaults.items() if k not in explicit}
    if suggested:
        print(f"{config.env} defaults: " + ", ".join(f"{k}={v}" for k, v in suggested.items()))
    return dataclasses.replace(config, **suggested)


def enable_compile_cache(directory: str | None = None) -> str:
    """Turn on JAX's persistent compilation cache (a second run skips most compile time)."""
    import jax

    directory = directory or os.environ.get(
        "ESMAML_COMPILE_CACHE", os.path.expanduser("~/.cache/esmaml-jax/xla"))
    jax.config.update("jax_compilation_cache_dir", directory)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
    return directory


def _cmd_train(args) -> int:
    if args.distributed:
        import jax

        jax.distributed.initialize()
    if args.compile_cache:
        enable_compile_cache()
    if args.checkpoint_every < 1:
        raise ValueError(f"--checkpoint-every must be >= 1, got {args.checkpoint_every}")
    if args.resume:
        if args.config or args.out:
            raise ValueError("--resume takes the run's own config and directory; drop "
                             "--config/--out")
        saved = train_lib.load_config(Path(args.resume) / "config.json")
        config = _config_from_args(args, saved)
        changed = set(config.differences(saved)) - _RESUMABLE_CHANGES
        if changed and not args.force_config:
            raise ValueError(f"{args.resume} was run with other settings "
                             f"({', '.join(sorted(changed))}); pass --force-config to continue "
                             f"it with the new ones")
        out = args.resume
    else:
        base = train_lib.load_config(args.config) if args.config else train_lib.TrainConfig()
        config = _config_from_args(args, base)
        config = _with_family_defaults(config, args)
        out = args.out or f"runs/{config.env}-{time.strftime('%Y%m%d-%H%M%S')}-seed{config.seed}"
    config.validate()
    result = train_lib.train(config, out, resume=bool(args.resume), progress=not args.quiet,
                             checkpoint_every=args.checkpoint_every, tensorboard=args.tensorboard,
                             shard=args.shard,
                             memory_budget=(None if args.memory_budget_mb is None
                                            else int(args.memory_budget_mb * 2**20)))
    return 130 if result.get("stopped") else 0


EVAL_STREAM = 0x65766C  # "evl": the key stream of `esmaml eval`


def _cmd_eval(args) -> int:
    import jax
    import numpy as np

    if args.repeats < 1:
        raise ValueError(f"--repeats must be >= 1, got {args.repeats}")
    config, family, algo, state = train_lib.load_run(args.run_dir)
    evaluate = jax.jit(algo.evaluate, static_argnames=("num_tasks", "num_repeats"))
    # A stream of its own: training splits PRNGKey(seed) into its init/train/eval/final keys, so
    # folding in a tag keeps `esmaml eval --seed S` clear of every key the run used.
    ev = evaluate(state, jax.random.fold_in(jax.random.PRNGKey(args.seed), EVAL_STREAM),
                  num_tasks=args.tasks,
                  num_repeats=args.repeats)
    pre, post = np.asarray(ev["pre"]), np.asarray(ev["post"])
    print(f"{args.run_dir}: {config.env}, meta-step {int(state.step)}, {pre.shape[0]} test tasks "
          f"x {args.repeats} adaptations")
    for i in range(pre.shape[0]):
        print(f"  task {i}: pre {np.nanmean(pre[i]):9.2f}  post {np.nanmean(post[i]):9.2f} "
              f"+- {np.nanstd(post[i]):.2f}")
    print(f"  all: pre {np.nanmean(pre):.2f} +- {np.nanstd(pre):.2f}, post {np.nanmean(post):.2f}"
          f" +- {np.nanstd(post):.2f}")
    gain = (post - pre)[np.isfinite(post - pre)]
    gain_se = float(np.std(gain) / np.sqrt(max(gain.size, 1)))
    print(f"  adaptation gain (post - pre, paired): {np.mean(gain):.2f} +- {gain_se:.2f} "
          f"(standard error over {gain.size} task x adaptation pairs)")
    report = {"step": int(state.step), "pre_mean": float(np.nanmean(pre)),
              "gain_mean": float(np.mean(gain)), "gain_stderr": gain_se,
              "pre_std": float(np.nanstd(pre)), "post_mean": float(np.nanmean(post)),
              "post_std": float(np.nanstd(post)), "pre": pre.tolist(), "post": post.tolist()}
    (Path(args.run_dir) / "eval.json").write_text(json.dumps(report, indent=2) + "\n")
    return 0


def _cmd_bench(args) -> int:
    from esmaml_jax import bench

    if args.compile_cache:
        enable_compile_cache()
    cfg = bench.BenchConfig(env=args.env, policy=args.policy, num_perturbations=args.perturbations,
                            num_queries=args.queries, tasks_per_perturbation=args.tasks,
                            horizon=args.horizon, repeats=args.repeats,
                            chunk_size=args.perturbation_chunk)
    r = bench.run(cfg)
    print(f"{cfg.env}, {cfg.policy} policy (D={r['num_params']}), P={cfg.num_perturbations} "
          f"antithetic, T={cfg.tasks_per_perturbation}, K={cfg.num_queries}, H={cfg.horizon}: "
          f"{r['rollouts_per_step']} rollouts, {r['env_steps_per_step']:,} env steps per step")
    print(f"  fused   : {r['fused_meta_steps_per_s']:.2f} meta-steps/s, "
          f"{r['fused_env_steps_per_s']:,.0f} env steps/s (compile {r['fused_compile_s']} s)")
    print(f"  limit   : {r['limit_env_steps_per_s']:,.0f} env steps/s (bare vmapped rollouts)")
    print(f"  unfused : {r['unfused_env_steps_per_s']:,.0f} env steps/s (one dispatch per pair)")
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


def _cmd_plot(args) -> int:
    from esmaml_jax import plots

    for path in plots.plot_run(args.run_dir):
        print(f"wrote {path}")
    return 0


def _cmd_list(args) -> int:
    import envs
    from esmaml_jax import adaptation

    print("envs:", ", ".join(envs.names()))
    print("adaptation operators:", ", ".join(adaptation.names()))
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="esmaml", description="ES-MAML in JAX")
    sub = parser.add_subparsers(dest="command", required=True)
    p_train = sub.add_parser("train", help="meta-train a policy (default: four_corners, ~1 min)")
    _add_train_args(p_train)
    p_train.set_defaults(func=_cmd_train)
    p_eval = sub.add_parser("eval", help="pre/post-adaptation test returns of a run")
    p_eval.add_argument("run_dir")
    p_eval.add_argument("--repeats", type=int, default=16, help="adaptations per test task")
    p_eval.add_argument("--tasks", type=int, default=None,
                        help="test tasks (default: the family's test set, or 20 sampled)")
    p_eval.add_argument("--seed", type=int, default=0)
    p_eval.set_defaults(func=_cmd_eval)
    p_plot = sub.add_parser("plot", help="learning curve and adapted trajectories of a run")
    p_plot.add_argument("run_dir")
    p_plot.set_defaults(func=_cmd_plot)
    p_bench = sub.add_parser("bench", help="throughput: fused vs bare-rollout limit vs unfused")
    p_bench.add_argument("--env", default="four_corners")
    p_bench.add_argument("--policy", default="linear")
    p_bench.add_argument("-P", "--perturbations", type=int, default=150)
    p_bench.add_argument("-K", "--queries", type=int, default=20)
    p_bench.add_argument("-T", "--tasks", type=int, default=1)
    p_bench.add_argument("--horizon", type=int, default=100)
    p_bench.add_argument("--repeats", type=int, default=5)
    p_bench.add_argument("--perturbation-chunk", type=int, default=None)
    p_bench.add_argument("--json", default=None, help="also write the result here")
    p_bench.add_argument("--no-compile-cache", action="store_false", dest="compile_cache")
    p_bench.set_defaults(func=_cmd_bench)
    p_list = sub.add_parser("list", help="list envs and adaptation operators")
    p_list.set_defaults(func=_cmd_list)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, FileExistsError, FileNotFoundError, CheckpointError) as e:
        print(f"esmaml: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
