"""Sine regression (A.6): ES-MAML (autodiff and ES-gradient adaptation) against second-order MAML
and first-order MAML, post-adaptation MSE for K = 5, 10, 20 after 1 and 10 gradient steps.

Every method trains the same 1-40-40-1 ReLU regressor; seeds run as one program (jax.vmap).
Evaluation: 100 fixed test tasks, K support points each, then the MSE against the true curve on
100 evenly spaced x in [-5, 5]. Writes benchmarks/results/sine.csv.

    python -m benchmarks.sine [--maml-steps 5000] [--es-steps 5000] [--seeds 2]

The one-step MSE along a longer run (A.6: "ES-MAML approaches the same level of performance,
though the number of training iterations required is higher"), into a file of its own:

    python -m benchmarks.sine --curve-every 3000 --ks 5 --es-steps 30000 --maml-steps 30000 \
        --seeds 5 --seed-stream 2032 --out benchmarks/results/sine_curve.csv
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

import envs
import esmaml_jax as ej
from benchmarks._common import RESULTS, stamped, write_csv
from envs import sine as sine_lib
from esmaml_jax.objectives import regression_objective

ALPHA = 0.01  # inner step (Finn et al., 2017; A.6)
X_GRID = jnp.linspace(-5.0, 5.0, 100)[:, None]


@dataclasses.dataclass
class Config:
    maml_steps: int = 5000
    es_steps: int = 5000
    seeds: int = 2
    meta_batch: int = 25  # MAML tasks per step
    perturbations: int = 150  # ES-MAML, antithetic
    es_tasks: int = 5  # ES-MAML tasks per perturbation
    es_sigma: float = 0.01
    es_lr: float = 0.001
    # The ES-gradient inner step spends 21 evaluations per adaptation instead of one gradient:
    # about 20x the cost per meta-step, so it gets a smaller budget here.
    es_grad_steps: int = 300
    es_grad_perturbations: int = 50
    out: str = str(RESULTS / "sine.csv")
    # --curve-every N: evaluate every N meta-steps (A.6's claim "with more iterations"; writes
    # one row per evaluation, for the methods / K chosen below) instead of the table above
    curve_every: int = 0
    methods: str = ""  # comma-separated parts of method names (curve mode); empty: all
    ks: str = "5,10,20"
    seed_stream: int = 0  # curve mode: seeds from PRNGKey(N)


MODEL = ej.policies.regressor()


def mse(params, x, y):
    pred = jax.vmap(lambda xi: MODEL.apply(params, xi))(x)
    return jnp.mean((pred - y) ** 2)


def adapt_steps(params, x, y, steps):
    for _ in range(steps):
        params = params - ALPHA * jax.grad(mse)(params, x, y)
    return params


def evaluate(params, k, steps):
    """Mean test MSE after ``steps`` gradient steps on K support points, over 100 test tasks
    (the same tasks and support points for every method)."""
    tasks = sine_lib.sample_tasks(jax.random.PRNGKey(4321), 100)
    key = jax.random.PRNGKey(2024)

    def one(task, kk):
        x, y = sine_lib.sample_data(kk, task, k)
        adapted = adapt_steps(params, x, y, steps)
        return mse(adapted, X_GRID, sine_lib.target(task, X_GRID))

    return jnp.mean(jax.vmap(one)(tasks, jax.random.split(key, 100)))


def maml_trainer(k, meta_batch, second_order):
    """(init(key) -> carry, step(carry, key) -> carry, params(carry)) of (FO)MAML with Adam."""
    opt = optax.adam(0.001)

    def task_loss(theta, task, kk):
        ks, kq = jax.random.split(kk)
        xs, ys = sine_lib.sample_data(ks, task, k)
        xq, yq = sine_lib.sample_data(kq, task, k)
        g = jax.grad(mse)(theta, xs, ys)
        if not second_order:
            g = jax.lax.stop_gradient(g)  # first-order MAML
        return mse(theta - ALPHA * g, xq, yq)

    def step(carry, kk):
        theta, opt_state = carry
        k_t, k_d = jax.random.split(kk)
        tasks = sine_lib.sample_tasks(k_t, meta_batch)
        loss = lambda th: jnp.mean(jax.vmap(task_loss, (None, 0, 0))(
            th, tasks, jax.random.split(k_d, meta_batch)))
        grad = jax.grad(loss)(theta)
        updates, opt_state = opt.update(grad, opt_state, theta)
        return optax.apply_updates(theta, updates), opt_state

    def init(key):
        theta = MODEL.init(key)
        return theta, opt.init(theta)

    return init, step, lambda carry: carry[0]


def es_trainer(k, cfg: Config, operator: str):
    """The same triple for ES-MAML (autodiff or ES-gradient adaptation)."""
    fam = envs.make("sine", num_shots=k)
    obj = regression_objective(fam, MODEL)
    if operator == "autodiff":
        op = ej.adaptation.autodiff_gradient(ALPHA)
    else:
        op = ej.adaptation.es_gradient(num_queries=20, sigma=cfg.es_sigma, step_size=ALPHA,
                                       shaping=ej.shaping.none)
    algo = ej.zero_order(obj, op, num_perturbations=cfg.perturbations,
                         tasks_per_perturbation=cfg.es_tasks, sigma=cfg.es_sigma,
                         optimizer=optax.adam(cfg.es_lr))
    return algo.init, lambda state, kk: algo.step(state, kk)[0], lambda state: state.params


def run_steps(step, carry, key, steps: int):
    """``steps`` meta-steps from ``carry`` in one scan, keys split from ``key``."""
    return jax.lax.scan(lambda c, kk: (step(c, kk), None), carry,
                        jax.random.split(key, steps))[0]


def train(trainer, key, steps):
    init, step, params = trainer
    k_init, k_run = jax.random.split(key)
    return params(run_steps(step, init(k_init), k_run, steps))


def train_maml(key, k, steps, meta_batch, second_order):
    return train(maml_trainer(k, meta_batch, second_order), key, steps)


def train_es_maml(key, k, steps, cfg: Config, operator: str):
    return train(es_trainer(k, cfg, operator), key, steps)


def curve(trainer, seeds, steps: int, every: int, k: int):
    """Train every seed (one program, jax.vmap) for ``steps`` meta-steps in chunks of ``every``,
    evaluating after each chunk. The keys are those of `train` split per chunk, so the
    training differs from one `train` call of ``steps`` only in how its keys are drawn.
    Yields (meta-steps so far, wall seconds so far, {adaptation steps: per-seed MSE})."""
    init, step, params = trainer
    k_init, k_run = jax.vmap(jax.random.split, out_axes=1)(seeds)
    carry = ej.jit(jax.vmap(init))(k_init)
    chunk = ej.jit(jax.vmap(lambda c, kk: run_steps(step, c, kk, every)))
    evals = {n: ej.jit(jax.vmap(lambda c, n=n: evaluate(params(c), k, n))) for n in (0, 1, 10)}
    wall, done = 0.0, 0
    yield done, wall, {n: np.asarray(f(carry)) for n, f in evals.items()}
    while done < steps:
        k_run, k_chunk = jax.vmap(jax.random.split, out_axes=1)(k_run)
        t0 = time.perf_counter()
        carry = jax.block_until_ready(chunk(carry, k_chunk))
        wall += time.perf_counter() - t0
        done += every
        yield done, wall, {n: np.asarray(f(carry)) for n, f in evals.items()}


def plot_curve(csv_path) -> Path:
    """The one-step test MSE against meta-steps per (method, K) of a --curve-every CSV: mean and
    min-max band over seeds, log scale (next to the CSV, .png)."""
    import csv

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = list(csv.DictReader(open(csv_path)))
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for i, (method, k) in enumerate(dict.fromkeys((r["method"], r["K"]) for r in rows)):
        mine = [r for r in rows if (r["method"], r["K"]) == (method, k)]
        steps = [int(r["meta_steps"]) for r in mine]
        vals = np.array([[float(x) for x in r["mse_1_steps_per_seed"].split()] for r in mine])
        ax.plot(steps, vals.mean(1), color=f"C{i}", marker=".", label=f"{method}, K = {k}")
        ax.fill_between(steps, vals.min(1), vals.max(1), color=f"C{i}", alpha=0.2)
    r0 = rows[0]
    ax.set_yscale("log")
    ax.set_xlabel("meta-step")
    ax.set_ylabel("test MSE after one gradient step")
    ax.set_title(f"sine (A.6): {r0['seeds']} seeds (line: mean, band: min-max), ES-MAML P "
                 f"{r0['perturbations']} x {r0['es_tasks']} tasks", fontsize=9)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    out = Path(csv_path).with_suffix(".png")
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def main_curve(cfg: Config) -> None:
    """--curve-every N: the one-step MSE along training (ES-MAML with autodiff adaptation and
    second-order MAML, the methods of A.6's claim), one row per evaluation."""
    seeds = jax.random.split(jax.random.PRNGKey(cfg.seed_stream), cfg.seeds)
    trainers = {"MAML (2nd order)": lambda k: maml_trainer(k, cfg.meta_batch, True),
                "ES-MAML, autodiff adaptation": lambda k: es_trainer(k, cfg, "autodiff")}
    rows = []
    for k in (int(x) for x in cfg.ks.split(",")):
        for name, make in trainers.items():
            if cfg.methods and not any(m in name for m in cfg.methods.split(",")):
                continue
            steps = cfg.maml_steps if name.startswith("MAML") else cfg.es_steps
            for done, wall, mses in curve(make(k), seeds, steps, cfg.curve_every, k):
                row = {"method": name, "K": k, "meta_steps": done, "seeds": cfg.seeds,
                       "seed_stream": cfg.seed_stream, "wall_s": round(wall, 1),
                       "perturbations": cfg.perturbations, "es_tasks": cfg.es_tasks,
                       "es_sigma": cfg.es_sigma, "es_lr": cfg.es_lr}
                for n, e in mses.items():
                    row[f"mse_{n}_steps"] = round(float(e.mean()), 3)
                row["mse_1_steps_per_seed"] = " ".join(f"{x:.3f}" for x in mses[1])
                print(row, flush=True)
                rows.append(stamped(row))
                write_csv(rows, cfg.out)
    print(f"wrote {cfg.out} and {plot_curve(cfg.out)}")


def main(argv=None) -> None:
    p = argparse.ArgumentParser()
    for f in dataclasses.fields(Config):
        p.add_argument(f"--{f.name.replace('_', '-')}", dest=f.name, type=type(f.default),
                       default=f.default)
    p.add_argument("--tiny", action="store_true", help="seconds: 4 steps, P 4, 2 seeds")
    p.add_argument("--replot", action="store_true",
                   help="only redraw the PNG of the --curve-every CSV at --out (no training)")
    args = vars(p.parse_args(argv))
    tiny = args.pop("tiny")
    if args.pop("replot"):
        print(plot_curve(args["out"]))
        return
    cfg = Config(**args)
    if tiny:
        cfg = dataclasses.replace(cfg, maml_steps=4, es_steps=4, es_grad_steps=2, seeds=2,
                                  perturbations=4, es_grad_perturbations=4,
                                  curve_every=2 if cfg.curve_every else 0)
    if cfg.curve_every:
        return main_curve(cfg)
    methods = {
        "MAML (2nd order)": lambda key, k: train_maml(key, k, cfg.maml_steps, cfg.meta_batch, True),
        "FOMAML": lambda key, k: train_maml(key, k, cfg.maml_steps, cfg.meta_batch, False),
        "ES-MAML, autodiff adaptation": lambda key, k: train_es_maml(key, k, cfg.es_steps, cfg,
                                                                     "autodiff"),
        "ES-MAML, ES-gradient adaptation": lambda key, k: train_es_maml(
            key, k, cfg.es_grad_steps,
            dataclasses.replace(cfg, perturbations=cfg.es_grad_perturbations), "es_gradient"),
    }
    rows = []
    seeds = jax.random.split(jax.random.PRNGKey(0), cfg.seeds)
    for k in (5, 10, 20):
        for name, fn in methods.items():
            t0 = time.perf_counter()
            thetas = jax.block_until_ready(ej.jit(jax.vmap(lambda s, fn=fn, k=k: fn(s, k)))(seeds))
            wall = time.perf_counter() - t0
            steps = {"MAML (2nd order)": cfg.maml_steps, "FOMAML": cfg.maml_steps,
                     "ES-MAML, autodiff adaptation": cfg.es_steps}.get(name, cfg.es_grad_steps)
            row = {"method": name, "K": k, "meta_steps": steps,
                   "seeds": cfg.seeds, "wall_s": round(wall, 1)}
            for steps in (0, 1, 10):
                e = np.asarray(ej.jit(jax.vmap(lambda th, s=steps, k=k: evaluate(th, k, s)))(
                    thetas))
                row[f"mse_{steps}_steps"] = round(float(e.mean()), 3)
                row[f"mse_{steps}_steps_std"] = round(float(e.std()), 3)
            print(row, flush=True)
            rows.append(stamped(row))
            write_csv(rows, cfg.out)


if __name__ == "__main__":
    main()
