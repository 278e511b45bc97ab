"""``esmaml train | list``: the command-line front end.

Bad input (unknown names, sigma <= 0, K < 1, a run directory that holds another run) prints one
``esmaml: error: ...`` line and exits with code 2; nothing is overwritten.
"""

from __future__ import annotations

import argparse
import sys
import time

from esmaml_jax import train as train_lib


def _add_train_args(p: argparse.ArgumentParser) -> None:
    d = train_lib.TrainConfig()
    p.add_argument("--env", default=d.env, help="task family (see `esmaml list`)")
    p.add_argument("--algorithm", default=d.algorithm, help="zero_order | first_order")
    p.add_argument("--no-hessian", action="store_false", dest="hessian",
                   help="first_order: FO-NoHessian (H = 0)")
    p.add_argument("--hessian-estimator", default=d.hessian_estimator, dest="hessian_estimator",
                   help="first_order: mc | antithetic")
    p.add_argument("--num-tasks", type=int, default=d.num_tasks, dest="num_tasks",
                   help="first_order: tasks per meta-step")
    p.add_argument("--adaptation", default=d.adaptation, help="adaptation operator U(theta, T)")
    p.add_argument("--policy", default=d.policy, help="linear | mlp")
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
                   help="directions of the es_gradient operator: gaussian|orthogonal|dpp")
    p.add_argument("--shaping", default=d.shaping, help="zscore | centered_rank | none")
    p.add_argument("--no-state-norm", action="store_false", dest="normalize_observations",
                   help="turn observation normalization off")
    p.add_argument("--horizon", type=int, default=None)
    p.add_argument("--steps", type=int, default=d.num_steps, dest="num_steps",
                   help="meta-steps")
    p.add_argument("--chunk", type=int, default=d.steps_per_chunk, dest="steps_per_chunk",
                   help="meta-steps per compiled scan chunk (progress is shown between chunks)")
    p.add_argument("--perturbation-chunk", type=int, default=None, dest="chunk_size",
                   help="evaluate the perturbation axis in chunks of this size (bounds memory)")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--out", default=None, help="run directory (default: runs/<env>-<time>)")


def _config_from_args(args: argparse.Namespace) -> train_lib.TrainConfig:
    fields = {f for f in train_lib.TrainConfig.__dataclass_fields__}
    values = {k: v for k, v in vars(args).items() if k in fields}
    values["hidden_sizes"] = train_lib.parse_hidden(args.hidden)
    return train_lib.TrainConfig(**values)


def _cmd_train(args) -> int:
    config = _config_from_args(args)
    config.validate()
    out = args.out or f"runs/{config.env}-{time.strftime('%Y%m%d-%H%M%S')}-seed{config.seed}"
    train_lib.train(config, out)
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
    p_list = sub.add_parser("list", help="list envs and adaptation operators")
    p_list.set_defaults(func=_cmd_list)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, FileExistsError, FileNotFoundError) as e:
        print(f"esmaml: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
