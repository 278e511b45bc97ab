"""The `esmaml` command: train, eval, plot, bench, list.

Every training flag is one row of `FLAGS`: the flag and the config path it sets
(``block.setting``, see `esmaml_jax.app.config`). Only the flags a user gives are set; everything
else comes from ``--config``, the task family's recommendation or the constructors' defaults,
resolved by `esmaml_jax.app.build` exactly as `train(config)` from Python does. A flag that does
not apply to the chosen components is a one-line error (exit 2). ``--set block.name=value``
reaches any setting of any component, including operators added with
`esmaml_jax.app.registry.register("adaptation", name, factory)`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from esmaml_jax.app import registry
from esmaml_jax.app.config import Config, load_config

# `esmaml bench --algorithm`: the algorithms whose step it times (app/commands.py's BENCHES)
BENCH_ALGORITHMS = ("pg_maml", "zero_order")


def _command(name: str):
    """The subcommand ``name`` of app/commands.py, imported when it runs: the parser (and
    ``--help``) never loads JAX, the task families or the training loop. Its first line is
    printed before that import (seconds), and each long phase after it has a heartbeat."""
    def run(args) -> int:
        print(f"esmaml {args.command}: loading JAX and the task families...", flush=True)
        from esmaml_jax.app import commands

        return getattr(commands, name)(args)

    return run


def parse_hidden(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(h) for h in text.split(",") if h.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"hidden sizes must be comma-separated integers, got {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"hidden sizes must be positive integers, got {text!r}")
    return sizes


# flags, config path, type (or the constant a switch stores), help
FLAGS = [
    (("--env",), "env.name", str, "task family (see `esmaml list`)"),
    (("--task-sets",), "env.task_sets", str,
     "goal-velocity / goal-position families: fresh (tasks drawn every step) | fixed (A.7.2's "
     "50 train / batch 5 / 5 test)"),
    (("--algorithm",), "algorithm.name", str, "zero_order | first_order | pg_maml"),
    (("--outer",), "algorithm.outer", str, "trpo | vpg: PG-MAML's outer update (pg_maml)"),
    (("--max-kl",), "algorithm.max_kl", float, "TRPO's KL bound (pg_maml, --outer trpo)"),
    (("--adaptation",), "adaptation.name", str, "adaptation operator U(theta, T) (zero_order)"),
    (("--policy",), "policy.name", str, "linear | mlp (regressor: supervised families)"),
    (("--hidden",), "policy.hidden_sizes", parse_hidden, "hidden sizes, comma-separated"),
    (("--policy-init",), "policy.init", str,
     "zero_output (starts standing still) | reference (the authors' initialisation)"),
    (("-K", "--queries"), "adaptation.num_queries", int,
     "inner queries K per adaptation (pg_maml: K trajectories)"),
    (("-P", "--perturbations"), "algorithm.num_perturbations", int,
     "outer perturbations per meta-step (zero_order)"),
    (("-T", "--tasks"), "algorithm.tasks_per_perturbation", int,
     "tasks per perturbation (zero_order)"),
    (("--num-tasks",), "algorithm.num_tasks", int, "tasks per meta-step (first_order, pg_maml)"),
    (("--sigma",), "algorithm.sigma", float, "outer precision (zero_order)"),
    (("--inner-sigma",), "adaptation.sigma", float, "adaptation precision"),
    (("--alpha",), "adaptation.step_size", float, "adaptation step size"),
    (("--lr",), "optimizer.learning_rate", float, "outer learning rate"),
    (("--optimizer",), "optimizer.name", str, "outer optax optimizer: sgd | adam | ..."),
    (("--estimator",), "algorithm.estimator", str, "outer: antithetic | forward_fd | vanilla"),
    (("--inner-estimator",), "adaptation.estimator", str, "es_gradient / dpp_es estimator"),
    (("--inner-sampler",), "adaptation.sampler", str,
     "es_gradient directions: gaussian | orthogonal | dpp | dpp_reference"),
    (("--shaping",), "algorithm.shaping", str, "outer fitness shaping: zscore | centered_rank "
                                               "| none"),
    (("--inner-shaping",), "adaptation.shaping", str, "fitness shaping of the inner step"),
    (("--no-state-norm",), "objective.normalize_observations", False,
     "turn observation normalization off"),
    (("--horizon",), "objective.horizon", int, "episode length (RL families)"),
    (("--shots",), "objective.num_shots", int, "data points per query (supervised families)"),
    (("--no-hessian",), "algorithm.hessian", False, "FO-NoHessian (first_order)"),
    (("--hessian-estimator",), "algorithm.hessian_estimator", str,
     "mc | antithetic (first_order)"),
    (("--hessian-queries",), "algorithm.hessian_queries", int,
     "directions for the Hessian (first_order; default K)"),
    (("--hessian-samples",), "algorithm.hessian_samples", str,
     "independent (Alg. 5) | shared (the authors' code; biased) (first_order)"),
    (("--perturbation-chunk",), "algorithm.chunk_size", int,
     "evaluate the perturbation axis in chunks of this size (bounds memory; zero_order)"),
    (("--steps",), "run.num_steps", int, "meta-steps"),
    (("--chunk",), "run.steps_per_chunk", int,
     "meta-steps per compiled chunk (progress, metrics and checkpoints between chunks)"),
    (("--eval-repeats",), "run.eval_repeats", int, "adaptations per test task per evaluation"),
    (("--seed",), "run.seed", int, "random seed"),
    (("--seeds",), "run.seeds", int,
     "train seeds seed..seed+N-1 side by side in one compiled program (vmapped)"),
]


def _add_train_args(p: argparse.ArgumentParser) -> None:
    for flags, path, kind, text in FLAGS:
        if kind is False or kind is True:
            p.add_argument(*flags, dest=path, action="store_const", const=kind,
                           default=argparse.SUPPRESS, help=f"{text} [{path}]")
        else:
            p.add_argument(*flags, dest=path, type=kind,  # type: ignore[arg-type]
                           default=argparse.SUPPRESS,
                           help=f"{text} [{path}]")
    p.add_argument("--set", action="append", default=[], metavar="BLOCK.NAME=VALUE",
                   help="any setting of any component (VALUE as JSON, else a string), e.g. "
                        "--set adaptation.mode=batch")
    p.add_argument("--config", default=None, help="JSON config file; flags override it")
    p.add_argument("--print-config", action="store_true",
                   help="print the resolved config (every setting) and exit")
    p.add_argument("--out", default=None, help="run directory (default: runs/<env>-<time>)")
    p.add_argument("--resume", default=None, metavar="RUN_DIR",
                   help="continue the run in RUN_DIR from its newest good checkpoint")
    p.add_argument("--force-config", action="store_true",
                   help="with --resume: accept settings that differ from the run's config "
                        "(recorded in events.jsonl)")
    p.add_argument("--restart", action="store_true",
                   help="with --resume: train from meta-step 0 when no checkpoint is left "
                        "(the old metrics.csv is kept under another name)")
    p.add_argument("--checkpoint-every", type=int, default=None, dest="checkpoint_every",
                   help="meta-steps between checkpoints (default: 100; a resume keeps the "
                        "run's own)")
    p.add_argument("--tensorboard", action="store_true",
                   help="also write TensorBoard event files (needs tensorboardX)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--shard", action="store_true",
                   help="shard the perturbation axis over all devices (one program)")
    p.add_argument("--cpu-devices", default=None, dest="cpu_devices", metavar="N|auto",
                   help="on a CPU host, present N devices and shard the perturbation axis over "
                        "them; auto: one per core, sharded where it applies (zero_order, one "
                        "seed, P a multiple of N). Default: one device (the default step is "
                        "slower sharded), or the count your XLA_FLAGS asks for. Numbers agree "
                        "across device counts to ~1e-6, not bit for bit; config.json records it")
    p.add_argument("--memory-budget-mb", type=float, default=None, dest="memory_budget_mb",
                   help="memory the meta-step may use before the perturbation axis is chunked "
                        "(default: half the device's free memory)")
    p.add_argument("--distributed", action="store_true",
                   help="multi-process: jax.distributed.initialize() first (coordinator, process "
                        "count and id from the cluster environment: SLURM, Cloud TPU, ...); "
                        "implies --shard; process 0 writes the run directory")
    p.add_argument("--coordinator", default=None, metavar="HOST:PORT",
                   help="multi-process without auto-detection: process 0's address")
    p.add_argument("--num-processes", type=int, default=None, dest="num_processes")
    p.add_argument("--process-id", type=int, default=None, dest="process_id")
    p.add_argument("--no-compile-cache", action="store_false", dest="compile_cache",
                   help="do not use JAX's persistent compilation cache "
                        "(default: ~/.cache/esmaml-jax/xla, or $ESMAML_COMPILE_CACHE)")


def config_from_args(args: argparse.Namespace, base: Config) -> Config:
    """``base`` with every flag the user gave (and every --set) applied."""
    config = base
    for _, path, _, _ in FLAGS:
        if path in vars(args):
            config = config.set(path, getattr(args, path))
    for item in args.set:
        path, sep, text = item.partition("=")
        if not sep:
            raise ValueError(f"--set takes BLOCK.NAME=VALUE, got {item!r}")
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = text
        config = config.set(path.strip(), tuple(value) if isinstance(value, list) else value)
    return config


def _flags_named(error: Exception, args: argparse.Namespace) -> str:
    """" (from --flag)" for the flags the user typed whose setting the error names."""
    text = str(error)
    typed = [("/".join(flags), path) for flags, path, _, _ in FLAGS if path in vars(args)]
    hits = [flag for flag, path in typed
            if path.partition(".")[2] in text and path.partition(".")[2] != "name"
            or path.endswith(".name") and (repr(getattr(args, path)) in text or path in text)]
    return f" (from {', '.join(hits)})" if hits else ""


def _cmd_train(args) -> int:
    if not args.quiet and not args.print_config:  # the imports below take seconds
        print("esmaml train: loading JAX and the task families...", flush=True)
    multi = [args.coordinator, args.num_processes, args.process_id]
    if any(v is not None for v in multi) and not all(v is not None for v in multi):
        raise ValueError("--coordinator, --num-processes and --process-id go together (or "
                         "give --distributed alone to auto-detect the cluster)")
    if args.distributed or args.coordinator is not None:
        from esmaml_jax.app import multihost

        multihost.initialize(args.coordinator, args.num_processes, args.process_id)
        args.shard = True  # one training across processes: the perturbation axis is sharded
    from esmaml_jax.app import devices

    auto_devices = args.cpu_devices == "auto"
    present = devices.cpu_devices(args.cpu_devices)
    if args.cpu_devices not in (None, "auto") and int(args.cpu_devices) > 1 and present > 1:
        args.shard = True  # an explicit N > 1 asks for sharding (refused where it cannot apply)
    if args.checkpoint_every is not None and args.checkpoint_every < 1:
        raise ValueError(f"--checkpoint-every must be >= 1, got {args.checkpoint_every}")
    for flag, given in (("--restart", args.restart), ("--force-config", args.force_config)):
        if given and not args.resume:
            raise ValueError(f"{flag} applies with --resume RUN_DIR only")
    if args.out is not None and not args.out.strip():
        raise ValueError("--out must not be empty (omit it for runs/<env>-<time>)")
    if args.resume:
        if args.config or args.out:
            raise ValueError("--resume takes the run's own config and directory; drop "
                             "--config/--out")
        from esmaml_jax.app import rundir

        base = rundir.read_config(Path(args.resume))
    else:
        base = load_config(args.config) if args.config else Config()
    from esmaml_jax.app.build import build
    from esmaml_jax.app.commands import enable_compile_cache
    from esmaml_jax.app.loop import train

    try:
        config = config_from_args(args, base)
        resolved = build(config)
    except ValueError as e:
        raise ValueError(f"{e}{_flags_named(e, args)}") from None
    if args.print_config:
        print(json.dumps(resolved.config.to_json(), indent=2))
        return 0
    if auto_devices and not args.shard:
        args.shard = devices.auto_shard(resolved)
    if args.compile_cache:
        enable_compile_cache()
    if args.resume:
        out = args.resume
    else:
        env = config.env.name if config.env is not None and config.env.name else "four_corners"
        seed = config.run.get("seed", 0)
        out = args.out or f"runs/{env}-{time.strftime('%Y%m%d-%H%M%S')}-seed{seed}"
    result = train(config, out, resume=bool(args.resume), progress=not args.quiet,
                   checkpoint_every=args.checkpoint_every, tensorboard=args.tensorboard,
                   shard=args.shard, force_config=args.force_config, restart=args.restart,
                   memory_budget=(None if args.memory_budget_mb is None
                                  else int(args.memory_budget_mb * 2**20)))
    return 130 if result.get("stopped") else 0


def _cmd_list(args) -> int:
    for kind in registry.KINDS:
        print(f"{kind}: {', '.join(registry.names(kind))}")
    return 0


def _version() -> str:
    from esmaml_jax.app.provenance import provenance

    p = provenance()
    v = p["versions"]
    commit = f", commit {p['git_commit'][:10]}" if p["git_commit"] else ""
    return (f"esmaml-jax {v['esmaml-jax']}{commit} (jax {v['jax']}, jaxlib {v['jaxlib']}, "
            f"brax {v['brax']}, flax {v['flax']}, optax {v['optax']})")


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (`esmaml: error: ...`, exit 2), like every other error."""

    def error(self, message: str):  # type: ignore[override]
        sys.stderr.write(f"esmaml: error: {message} (see {self.prog} --help)\n")
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    """The `esmaml` command line: every subcommand and flag (docs/cli.md is made from it)."""
    parser = _Parser(prog="esmaml", description="ES-MAML in JAX", epilog=(
        "environment: ESMAML_COMPILE_CACHE (where compiled programs are kept), ESMAML_XLA_LOGS=all "
        "(show XLA's own log lines; otherwise its slow-compile alarms are one line of ours)"))
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    p_train = sub.add_parser("train", help="meta-train a policy (default: four_corners)")
    _add_train_args(p_train)
    p_train.set_defaults(func=_cmd_train)
    p_eval = sub.add_parser("eval", help="the run's result (its final evaluation, reproduced), or "
                                         "an independent evaluation of the test tasks")
    p_eval.add_argument("run_dir")
    p_eval.add_argument("--repeats", type=int, default=None,
                        help="adaptations per test task (16 unless the three are left out: "
                             "then the run's result, its final evaluation, is reproduced)")
    p_eval.add_argument("--tasks", type=int, default=None,
                        help="test tasks (default: the family's test set, or 20 sampled)")
    p_eval.add_argument("--seed", type=int, default=None,
                        help="the key stream of an independent evaluation (default 0)")
    p_eval.add_argument("--no-save", action="store_true", dest="no_save",
                        help="print the evaluation without recording it in the run directory")
    p_eval.add_argument("--no-compile-cache", action="store_false", dest="compile_cache",
                        help="do not use JAX's persistent compilation cache (default: "
                             "~/.cache/esmaml-jax/xla, or $ESMAML_COMPILE_CACHE)")
    p_eval.set_defaults(func=_command("cmd_eval"))
    p_plot = sub.add_parser("plot", help="learning curve and adapted trajectories of a run")
    p_plot.add_argument("run_dir")
    p_plot.set_defaults(func=_command("cmd_plot"))
    p_render = sub.add_parser("render", help="what the meta-policy does before and after "
                                             "adaptation: paths, Brax HTML, state plots")
    p_render.add_argument("run_dir")
    p_render.add_argument("--tasks", default=None, metavar="I,J,...",
                          help="test task numbers (default: the first 4)")
    p_render.add_argument("--adaptations", type=int, default=3,
                          help="adapted policies drawn per task (Brax: the first is saved)")
    p_render.set_defaults(func=_command("cmd_render"))
    p_cmp = sub.add_parser("compare", help="curves of several runs on the same axes, with the "
                                           "spread over seeds, and a table of final returns")
    p_cmp.add_argument("runs", nargs="+", metavar="[LABEL=]RUN_DIR[,RUN_DIR...]",
                       help="a run, or a group of runs (seeds) under one label")
    p_cmp.add_argument("--out", default="compare.png")
    p_cmp.add_argument("--x", default="step", choices=["step", "env_steps", "wall_time"])
    p_cmp.set_defaults(func=_command("cmd_compare"))
    p_bench = sub.add_parser("bench", help="throughput: fused vs bare-rollout limit vs unfused")
    p_bench.add_argument("--algorithm", default="zero_order", choices=BENCH_ALGORITHMS,
                         help="pg_maml: PG-MAML's fused step (TRPO, VPG) vs the stochastic "
                              "bare-rollout limit and ES-MAML on the same env")
    p_bench.add_argument("--env", default=None,
                         help="default four_corners (navigation_2d with --algorithm pg_maml)")
    p_bench.add_argument("--policy", default=None, help="default linear (mlp for pg_maml)")
    p_bench.add_argument("--num-tasks", type=int, default=40, dest="num_tasks",
                         help="PG-MAML tasks per meta-step")
    p_bench.add_argument("-P", "--perturbations", type=int, default=150)
    p_bench.add_argument("-K", "--queries", type=int, default=20)
    p_bench.add_argument("-T", "--tasks", type=int, default=1)
    p_bench.add_argument("--horizon", type=int, default=100)
    p_bench.add_argument("--repeats", type=int, default=5)
    p_bench.add_argument("--perturbation-chunk", type=int, default=None)
    p_bench.add_argument("--operator", default=None,
                         help="adaptation operator (`esmaml list`; default es_gradient); "
                              "zero_order only")
    p_bench.add_argument("--json", default=None, help="also write the result here")
    p_bench.add_argument("--compile-cache", action="store_true", dest="compile_cache",
                         help="use the persistent compilation cache (faster start, but the "
                              "compile times reported are then cache loads; default: off, "
                              "every program compiled fresh)")
    p_bench.add_argument("--no-compile-cache", action="store_false", dest="compile_cache",
                         help="(the default) compile every program fresh")
    p_bench.set_defaults(func=_command("cmd_bench"))
    p_list = sub.add_parser("list", help="list the components: envs, policies, operators, "
                                         "algorithms, optimizers")
    p_list.set_defaults(func=_cmd_list)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help, or a one-line argparse error already written
        return int(e.code or 0)
    try:
        return args.func(args)
    except (ValueError, OSError) as e:  # OSError: missing, read-only, not a dir
        print(f"esmaml: error: {e}", file=sys.stderr)
        return 2
    except Exception as e:
        from esmaml_jax.app.checkpoint import CheckpointError

        if not isinstance(e, CheckpointError):
            raise
        print(f"esmaml: error: {e}", file=sys.stderr)
        return 2


def console_main() -> int:
    """The installed `esmaml` command: `main`, with XLA's slow-compile alarms filtered at our
    boundary (`esmaml_jax.app.xla_log`)."""
    from esmaml_jax.app import xla_log

    xla_log.install()
    return main()


if __name__ == "__main__":
    sys.exit(console_main())
