"""The one impure host loop: scanned chunks of meta-steps, evaluation, logging, run directory.

Everything inside a chunk is one compiled program (``lax.scan`` over the jitted meta-step); the
host only touches results between chunks to evaluate, log and draw the progress bar.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

import envs
from esmaml_jax import adaptation as adaptation_lib
from esmaml_jax import estimators, memory, policies, shaping
from esmaml_jax.algorithms import Algorithm, first_order, zero_order
from esmaml_jax.algorithms.first_order import HESSIAN_SAMPLES
from esmaml_jax.checkpoint import Checkpointer
from esmaml_jax.objectives import regression_objective, rl_objective


@dataclasses.dataclass
class TrainConfig:
    """A full training run. Defaults: the paper's (A.7.2) on four_corners, with the choices the
    CLI default needs to learn visibly within about a minute on a CPU (see README)."""

    env: str = "four_corners"
    algorithm: str = "zero_order"  # zero_order (Alg. 2/3) | first_order (Alg. 5)
    adaptation: str = "es_gradient"
    policy: str = "mlp"
    hidden_sizes: tuple[int, ...] = (32,)
    policy_init: str = "zero_output"  # zero_output | reference (the authors' code)
    num_queries: int = 20  # K
    num_perturbations: int = 150  # P (antithetic: 2P evaluations)
    tasks_per_perturbation: int = 1
    sigma: float = 0.1  # outer precision
    inner_sigma: float = 0.1  # adaptation precision
    step_size: float = 0.05  # alpha
    learning_rate: float = 0.01  # beta, plain SGD
    estimator: str = "antithetic"
    inner_estimator: str = "forward_fd"
    inner_sampler: str = "gaussian"  # gaussian | orthogonal | dpp | dpp_reference
    shaping: str = "zscore"
    normalize_observations: bool = True
    hessian: bool = True  # first_order: FO-Hessian (True) or FO-NoHessian
    hessian_estimator: str = "mc"  # first_order: mc (Alg. 4) | antithetic
    hessian_queries: int | None = None  # first_order: directions for H (None: num_queries)
    hessian_samples: str = "independent"  # first_order: independent (Alg. 5) | shared (ref. code)
    num_tasks: int = 50  # first_order: tasks per meta-step
    horizon: int | None = None  # None: the family's default
    num_steps: int = 400
    steps_per_chunk: int = 25
    eval_repeats: int = 4
    chunk_size: int | None = None
    seed: int = 0

    def validate(self) -> None:
        def positive_int(name):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {v!r}")

        for name in ("num_queries", "num_perturbations", "tasks_per_perturbation", "num_steps",
                     "steps_per_chunk", "eval_repeats", "num_tasks"):
            positive_int(name)
        for name in ("sigma", "inner_sigma", "learning_rate"):
            if not float(getattr(self, name)) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)!r}")
        if not float(self.step_size) >= 0:
            raise ValueError(f"step_size must be >= 0, got {self.step_size!r}")
        if self.horizon is not None and (not isinstance(self.horizon, int) or self.horizon < 1):
            raise ValueError(f"horizon must be an integer >= 1, got {self.horizon!r}")
        for name in ("chunk_size", "hessian_queries"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
                raise ValueError(f"{name} must be an integer >= 1, got {v!r}")
        if self.hessian_samples not in HESSIAN_SAMPLES:
            raise ValueError(f"unknown hessian_samples {self.hessian_samples!r}; known: "
                             f"{', '.join(HESSIAN_SAMPLES)}")
        if (self.hessian_samples == "shared" and self.hessian_queries is not None
                and self.hessian_queries < self.num_queries):
            raise ValueError(f"with shared samples hessian_queries ({self.hessian_queries}) must "
                             f"be at least num_queries ({self.num_queries})")
        if self.env not in envs.names():
            raise ValueError(f"unknown env {self.env!r}; known envs: {', '.join(envs.names())}")
        if self.adaptation not in adaptation_lib.names():
            raise ValueError(f"unknown adaptation operator {self.adaptation!r}; known: "
                             f"{', '.join(adaptation_lib.names())}")
        if self.algorithm not in ("zero_order", "first_order"):
            raise ValueError(f"unknown algorithm {self.algorithm!r}; known: zero_order, "
                             f"first_order")
        if self.algorithm == "first_order" and self.adaptation != "es_gradient":
            raise ValueError("first_order adapts with the ES gradient only (Alg. 5); drop "
                             "--adaptation")
        if self.policy not in ("linear", "mlp"):
            raise ValueError(f"unknown policy {self.policy!r}; known policies: linear, mlp")
        for name in ("estimator", "inner_estimator"):
            estimators.check_estimator(getattr(self, name))
        estimators.get_sampler(self.inner_sampler)
        if self.policy_init not in policies.POLICY_INITS:
            raise ValueError(f"unknown policy_init {self.policy_init!r}; known: "
                             f"{', '.join(policies.POLICY_INITS)}")
        shaping.get(self.shaping)

    def to_json(self) -> dict:
        d = dataclasses.asdict(self)
        d["hidden_sizes"] = list(self.hidden_sizes)
        return d

    @classmethod
    def from_json(cls, d: dict) -> TrainConfig:
        """Build from a JSON dict, with clear errors for unknown keys and wrong types."""
        if not isinstance(d, dict):
            raise ValueError(f"a config must be a JSON object, got {type(d).__name__}")
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - set(fields))
        if unknown:
            raise ValueError(f"unknown config key(s) {unknown}; known: {sorted(fields)}")
        values = {}
        for name, value in d.items():
            default = fields[name].default
            kind = int if default is None else type(default)
            ok = {
                bool: isinstance(value, bool),
                int: (isinstance(value, int) and not isinstance(value, bool))
                or (value is None and default is None),
                float: isinstance(value, (int, float)) and not isinstance(value, bool),
                str: isinstance(value, str),
                tuple: isinstance(value, (list, tuple))
                and all(isinstance(v, int) and not isinstance(v, bool) for v in value),
            }[kind]
            if not ok:
                want = {bool: "true/false", int: "an integer", float: "a number",
                        str: "a string", tuple: "a list of integers"}[kind]
                if default is None:
                    want += " or null"
                raise ValueError(f"config key {name!r} must be {want}, got {value!r}")
            values[name] = tuple(value) if kind is tuple else value
        return cls(**values)

    def differences(self, other: TrainConfig) -> list[str]:
        """Names of the fields whose values differ."""
        a, b = self.to_json(), other.to_json()
        return sorted(k for k in a if a[k] != b[k])


def load_config(path: str | os.PathLike) -> TrainConfig:
    """Read a JSON config file (a partial one fills in the defaults)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file {path} does not exist")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"config file {path} is not valid JSON: {e}") from None
    return TrainConfig.from_json(data)


def make_adaptation(config: TrainConfig) -> adaptation_lib.Adaptation:
    """The operator a config names, with K, inner sigma and alpha passed where it takes them."""
    name = config.adaptation
    if name == "identity":
        return adaptation_lib.identity()
    if name == "autodiff_gradient":
        return adaptation_lib.autodiff_gradient(step_size=config.step_size)
    kwargs = {"num_queries": config.num_queries, "sigma": config.inner_sigma}
    if name != "hill_climb":
        kwargs["step_size"] = config.step_size
    if name in ("es_gradient", "dpp_es"):
        kwargs["estimator"] = config.inner_estimator
    if name in ("es_gradient", "dpp_es", "rbo", "asebo"):
        kwargs["shaping"] = config.shaping
    if name == "es_gradient":
        kwargs["sampler"] = config.inner_sampler
    return adaptation_lib.make(name, **kwargs)


def build(config: TrainConfig, mesh=None) -> tuple[envs.TaskFamily, Algorithm]:
    """The task family and the algorithm a config describes (validated first). ``mesh``: shard
    the perturbation axis over its devices (zero-order only)."""
    config.validate()
    family = envs.make(config.env)
    if hasattr(family, "sample_data"):  # supervised (sine): K is the number of shots
        model = policies.regressor(family.observation_size, family.action_size,
                                   config.hidden_sizes)
        objective = regression_objective(family, model, num_shots=config.num_queries)
    else:
        policy = policies.make(config.policy, family.observation_size, family.action_size,
                               config.hidden_sizes, config.policy_init)
        objective = rl_objective(family, policy, horizon=config.horizon,
                                 normalize_observations=config.normalize_observations)
    if config.algorithm == "first_order":
        algo = first_order(objective, num_tasks=config.num_tasks, num_queries=config.num_queries,
                           sigma=config.inner_sigma, step_size=config.step_size,
                           hessian=config.hessian, hessian_estimator=config.hessian_estimator,
                           hessian_queries=config.hessian_queries,
                           hessian_samples=config.hessian_samples,
                           optimizer=optax.sgd(config.learning_rate), shaping=config.shaping)
        return family, algo
    algo = zero_order(objective, make_adaptation(config),
                      num_perturbations=config.num_perturbations,
                      tasks_per_perturbation=config.tasks_per_perturbation,
                      sigma=config.sigma, optimizer=optax.sgd(config.learning_rate),
                      estimator=config.estimator, shaping=config.shaping,
                      chunk_size=config.chunk_size, mesh=mesh)
    return family, algo


def _fit_memory(config: TrainConfig, family, algo: Algorithm, state, mesh, budget: int):
    """(chunk size or None, reason) for the zero-order step under ``budget`` bytes."""
    key = jax.random.PRNGKey(0)
    state_bytes = 0
    if hasattr(family, "env"):  # RL: one rollout's scan carry is its env state
        tasks = jax.eval_shape(lambda k: algo.objective.sample_train_tasks(k, 1), key)
        reset = lambda k, t: family.env.reset_task(k, jax.tree.map(lambda x: x[0], t))
        state_bytes = memory.tree_bytes(jax.eval_shape(reset, key, tasks))
    estimate = memory.estimate_bytes(algo.rollouts_per_step, state_bytes, state.params.shape[0])

    def program_bytes(chunk):
        _, a = build(dataclasses.replace(config, chunk_size=chunk), mesh)
        return memory.compiled_bytes(jax.jit(a.step).lower(state, key).compile())

    return memory.pick_chunk_size(config.num_perturbations, program_bytes, budget,
                                  estimate=estimate)


def prepare_run_dir(out_dir: Path) -> None:
    """Create ``out_dir``; refuse one that already holds a run (nothing is overwritten)."""
    if out_dir.exists() and any(out_dir.iterdir()):
        raise FileExistsError(f"output directory {out_dir} is not empty (it holds another run); "
                              f"choose another --out")
    out_dir.mkdir(parents=True, exist_ok=True)


class Progress:
    """A one-line progress bar with ETA on stderr (a new line per update when not a TTY)."""

    def __init__(self, total: int, stream=sys.stderr, width: int = 24, start: int = 0):
        self.total, self.stream, self.width, self.first = total, stream, width, start
        self.tty = stream.isatty()
        self.start = time.perf_counter()

    def update(self, done: int, text: str) -> None:
        elapsed = time.perf_counter() - self.start
        frac = done / self.total
        run_frac = (done - self.first) / max(self.total - self.first, 1)
        eta = elapsed / run_frac - elapsed if run_frac > 0 else float("nan")
        bar = "#" * int(self.width * frac) + "-" * (self.width - int(self.width * frac))
        line = f"[{bar}] {done}/{self.total} {text} | {elapsed:.0f}s, ETA {eta:.0f}s"
        self.stream.write(("\r" + line) if self.tty else (line + "\n"))
        self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")


def _fmt(x: float) -> str:
    return f"{x:.1f}" if np.isfinite(x) else "n/a"


class _StopFlag:
    """Set by SIGINT/SIGTERM while training: the loop saves a checkpoint and exits cleanly at the
    end of the current chunk (a second Ctrl-C aborts at once)."""

    def __init__(self):
        self.raised = False
        self._old = {}

    def __enter__(self):
        def handler(signum, frame):
            if self.raised:
                raise KeyboardInterrupt
            self.raised = True
            sys.stderr.write(f"\n{signal.Signals(signum).name}: stopping after this chunk "
                             f"and saving a checkpoint (again to abort at once)\n")

        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._old[sig] = signal.signal(sig, handler)
            except ValueError:  # not the main thread: no signal handling
                pass
        return self

    def __exit__(self, *exc):
        for sig, old in self._old.items():
            signal.signal(sig, old)


FIELDS = ["step", "wall_time", "pre_return", "post_return", "test_pre", "test_post",
          "num_nonfinite", "skipped_updates", "env_steps"]


def _truncate_metrics(path: Path, done: int) -> None:
    """Keep only the metric rows up to ``done`` (rows after the checkpoint are recomputed)."""
    if not path.exists():
        return
    rows = [r for r in csv.DictReader(open(path)) if int(r["step"]) <= done]
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(rows)


def train(config: TrainConfig, out_dir: str | os.PathLike, *, resume: bool = False,
          progress: bool = True, log=print, checkpoint_every: int = 100, keep: int = 3,
          should_stop=None, tensorboard: bool = False, shard: bool = False,
          memory_budget: int | None = None) -> dict:
    """Run (or, with ``resume``, continue) a training job in ``out_dir``. Returns the summary.

    A checkpoint is saved every ``checkpoint_every`` meta-steps (at the end of a chunk), at the
    end, and when SIGINT/SIGTERM (or ``should_stop(done)``) asks the run to stop; a resumed run
    ends with bit-identical parameters to an uninterrupted one, because every chunk's key is
    derived from the seed and the number of meta-steps already done. ``shard`` spreads the
    perturbation axis over every device (all hosts' after ``jax.distributed.initialize()``).
    With ``config.chunk_size`` None the zero-order step processes the perturbation axis in chunks
    when it would not fit in ``memory_budget`` bytes (default: half the device's free memory).
    """
    if memory_budget is not None and not memory_budget > 0:
        raise ValueError(f"the memory budget must be > 0, got {memory_budget!r}")
    mesh = None
    if shard:
        if config.algorithm != "zero_order":
            raise ValueError("--shard applies to the zero-order algorithm")
        mesh = jax.sharding.Mesh(np.array(jax.devices()), ("perturbations",))
        log(f"sharding the perturbation axis over {len(jax.devices())} device(s)")
    family, algo = build(config, mesh)
    out = Path(out_dir)
    if resume:
        if not (out / "config.json").exists():
            raise FileNotFoundError(f"{out} holds no run to resume (no config.json)")
    else:
        prepare_run_dir(out)
    (out / "config.json").write_text(json.dumps(config.to_json(), indent=2) + "\n")

    key = jax.random.PRNGKey(config.seed)
    k_init, k_train, k_eval, k_final = jax.random.split(key, 4)
    state = algo.init(k_init)
    memory_note = None
    if config.algorithm == "zero_order" and config.chunk_size is None:
        budget = memory_budget if memory_budget is not None else memory.available_bytes() // 2
        chunk_size, memory_note = _fit_memory(config, family, algo, state, mesh, budget)
        if chunk_size is not None:
            family, algo = build(dataclasses.replace(config, chunk_size=chunk_size), mesh)
    init_state = state
    chunk = config.steps_per_chunk
    ckpt = Checkpointer(out / "checkpoints", max_to_keep=keep)
    done, env_steps = 0, 0
    if resume:
        restored = ckpt.restore_latest(state, log=log)
        if restored is not None:
            state, meta = restored
            done, env_steps = int(meta["done"]), int(meta["env_steps"])
        _truncate_metrics(out / "metrics.csv", done)
        log(f"resuming {out} at meta-step {done}")

    @jax.jit
    def run_chunk(state, key):
        return jax.lax.scan(algo.step, state, jax.random.split(key, chunk))

    evaluate = jax.jit(algo.evaluate, static_argnames=("num_tasks", "num_repeats"))
    hess = (f" ({config.hessian_estimator} Hessian, {config.hessian_queries or config.num_queries}"
            f" {config.hessian_samples} queries)" if config.hessian else " (no Hessian)")
    what = (f"first_order{hess} n={config.num_tasks}"
            if config.algorithm == "first_order" else f"adaptation={config.adaptation}")
    log(f"esmaml train: env={config.env} {what} policy={config.policy}"
        f"{list(config.hidden_sizes) if config.policy == 'mlp' else ''} "
        f"D={algo.objective.num_params} P={config.num_perturbations} ({config.estimator}) "
        f"T={config.tasks_per_perturbation} K={config.num_queries} "
        f"H={algo.objective.steps_per_query} steps={config.num_steps} seed={config.seed}")
    log(f"  {algo.rollouts_per_step} rollouts, {algo.env_steps_per_step:,} env steps per "
        f"meta-step; run directory {out}")
    if memory_note:
        log(f"  memory: {memory_note}")

    writer_tb = None
    if tensorboard:
        try:
            from tensorboardX import SummaryWriter
        except ImportError:
            raise ValueError("--tensorboard needs tensorboardX: pip install tensorboardX") from None
        writer_tb = SummaryWriter(str(out / "tensorboard"))

    t0 = time.perf_counter()
    init_eval = evaluate(init_state, k_eval, num_repeats=config.eval_repeats)
    bar = Progress(config.num_steps, start=done) if progress else None
    since_ckpt = 0
    stopped = False
    new_file = not (out / "metrics.csv").exists()
    with _StopFlag() as flag, open(out / "metrics.csv", "a", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=FIELDS)
        if new_file:
            writer.writeheader()
        while done < config.num_steps:
            n = min(chunk, config.num_steps - done)
            if n < chunk:  # a shorter final chunk compiles once more; keep it exact
                state, m = jax.lax.scan(jax.jit(algo.step), state,
                                        jax.random.split(jax.random.fold_in(k_train, done), n))
            else:
                state, m = run_chunk(state, jax.random.fold_in(k_train, done))
            done += n
            since_ckpt += n
            env_steps += n * algo.env_steps_per_step
            ev = evaluate(state, jax.random.fold_in(k_eval, done), num_repeats=config.eval_repeats)
            row = {
                "step": done,
                "wall_time": round(time.perf_counter() - t0, 3),
                "pre_return": float(jnp.nanmean(m["pre_return"])),
                "post_return": float(jnp.nanmean(m["post_return"])),
                "test_pre": float(ev["pre_mean"]),
                "test_post": float(ev["post_mean"]),
                "num_nonfinite": int(m["num_nonfinite"].sum()),
                "skipped_updates": int(m["skipped_update"].sum()),
                "env_steps": env_steps,
            }
            writer.writerow(row)
            fh.flush()
            if writer_tb is not None:
                for name in FIELDS[2:]:
                    writer_tb.add_scalar(name, row[name], done)
            if row["skipped_updates"]:
                log(f"\nwarning: {row['skipped_updates']} meta-step(s) up to {done} had no finite "
                    f"return at all and left the parameters unchanged")
            if bar:
                bar.update(done, f"train post {_fmt(row['post_return'])} | test pre "
                                 f"{_fmt(row['test_pre'])} post {_fmt(row['test_post'])}")
            stop = flag.raised or (should_stop is not None and should_stop(done))
            if since_ckpt >= checkpoint_every or stop or done >= config.num_steps:
                ckpt.save(done, state, {"done": done, "env_steps": env_steps})
                since_ckpt = 0
            if stop and done < config.num_steps:
                stopped = True
                break
    if bar:
        bar.close()
    if writer_tb is not None:
        writer_tb.close()
    ckpt.close()
    elapsed = time.perf_counter() - t0
    if stopped:
        log(f"stopped at meta-step {done} of {config.num_steps}; checkpoint saved. Continue with: "
            f"esmaml train --resume {out}")
        return {"steps": done, "stopped": True}
    np.save(out / "params.npy", np.asarray(state.params))
    final = evaluate(state, k_final, num_repeats=4 * config.eval_repeats)
    summary = {
        "steps": done,
        "wall_time_s": round(elapsed, 2),
        "env_steps": env_steps,
        "env_steps_per_s": round(env_steps / elapsed, 1),
        "initial_test_pre": float(init_eval["pre_mean"]),
        "initial_test_post": float(init_eval["post_mean"]),
        "final_test_pre": float(final["pre_mean"]),
        "final_test_post": float(final["post_mean"]),
        "final_test_post_std": float(jnp.nanstd(final["post"])),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    rate = (f" ({summary['env_steps_per_s']:,.0f} env steps/s incl. compile and evaluation)"
            if env_steps else "")
    log(f"done in {elapsed:.1f}s{rate}")
    log(f"test return before training: pre-adaptation {_fmt(summary['initial_test_pre'])}, "
        f"post-adaptation {_fmt(summary['initial_test_post'])}")
    log(f"test return after training:  pre-adaptation {_fmt(summary['final_test_pre'])}, "
        f"post-adaptation {_fmt(summary['final_test_post'])} "
        f"(+- {summary['final_test_post_std']:.1f} over tasks x adaptations)")
    return summary


def load_run(run_dir: str | os.PathLike, log=print):
    """(config, family, algo, state) of a run directory, at its newest good checkpoint."""
    out = Path(run_dir)
    config = load_config(out / "config.json")
    family, algo = build(config)
    template = algo.init(jax.random.split(jax.random.PRNGKey(config.seed), 4)[0])
    ckpt = Checkpointer(out / "checkpoints")
    restored = ckpt.restore_latest(template, log=log)
    ckpt.close()
    if restored is None:
        raise FileNotFoundError(f"{out} has no checkpoint yet")
    return config, family, algo, restored[0]


def parse_hidden(text: str | Sequence[int]) -> tuple[int, ...]:
    if not isinstance(text, str):
        return tuple(int(h) for h in text)
    try:
        sizes = tuple(int(h) for h in text.split(",") if h.strip())
    except ValueError:
        raise ValueError(f"hidden sizes must be comma-separated integers, got {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise ValueError(f"hidden sizes must be positive integers, got {text!r}")
    return sizes
