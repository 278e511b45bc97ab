"""Deterministic policies over a FLAT parameter vector.

ES perturbs parameters, so every policy is exposed as ``apply(flat_params [D], obs [O]) -> action
[A]``. Any ``flax.linen`` module becomes such a policy through `from_flax`: its parameter pytree is
flattened once with ``ravel_pytree`` and restored inside ``apply`` (a slice and reshape, free under
jit). ``policy.unravel(flat)`` gives the user's pytree back.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from esmaml_jax.types import Array, Key, Params, PyTree


class Policy(NamedTuple):
    """A deterministic policy. ``init(key) -> [D]``; ``apply(params [D], obs [O]) -> [A]``.

    ``prepare(params) -> tree`` and ``apply_prepared(tree, obs) -> action`` (optional) split
    ``apply`` into the part that depends on the parameters only (slicing the flat vector into
    layers) and the part that sees the observation, so a rollout does the first ONCE per episode
    instead of once per time step (`bind`). Without them ``apply`` is called every step.

    ``bind_batch_last(params [N, D]) -> (obs [O, N] -> actions [A, N])`` (optional): the same
    N policies with the batch axis LAST (weights [I, O, N], units [O, N]), which a CPU runs
    faster for MLPs (`bind_many` and `esmaml_jax.objectives.rl_objective` use it there).
    """

    init: Callable[[Key], Params]
    apply: Callable[[Params, Array], Array]
    num_params: int
    unravel: Callable[[Params], PyTree]
    prepare: Callable[[Params], PyTree] | None = None
    apply_prepared: Callable[[PyTree, Array], Array] | None = None
    apply_batch: Callable[[Params, Array], Array] | None = None
    bind_batch_last: Callable[[Params], Callable[[Array], Array]] | None = None

    def apply_many(self, params: Params, obs: Array) -> Array:
        """Actions [..., A] of observations [..., O] under ONE parameter vector: the network on
        the whole batch where the policy takes one (``apply_batch``: a matrix product per
        layer), else ``apply`` vmapped over the observations."""
        flat = obs.reshape(-1, obs.shape[-1])
        if self.apply_batch is not None:
            out = self.apply_batch(params, flat)
        else:
            out = jax.vmap(lambda o: self.apply(params, o))(flat)
        return out.reshape(*obs.shape[:-1], out.shape[-1])


def bind(policy: Policy, params: Params) -> Callable[[Array], Array]:
    """``obs -> action`` for fixed ``params``, with the parameter-only work done here, once.

    Inside a ``lax.scan`` over time this keeps the slicing of the flat vector out of the loop:
    XLA does not hoist it by itself, and with a batch of rollouts that each have their own
    parameters it copies every layer at every step (measured: +30% on an MLP(32) rollout).
    """
    if policy.prepare is None or policy.apply_prepared is None:
        return lambda obs: policy.apply(params, obs)
    tree = policy.prepare(params)
    apply_prepared = policy.apply_prepared
    return lambda obs: apply_prepared(tree, obs)


def bind_many(policy: Policy, params: Params, batch_last: bool = False
              ) -> Callable[[Array], Array]:
    """``obs [N, O] -> actions [N, A]`` for N policies ``params [N, D]`` (row i acts on
    observation i), the parameter-only work done here, once (see `bind`).

    ``batch_last`` and a policy with ``bind_batch_last``: computed with the batch axis last
    (contiguous rows of N numbers; on a CPU, MLP(32) rollouts about 1.5x faster, measured in
    benchmarks/results/step_ab.json); otherwise ``jax.vmap`` of `bind`. Same values either way
    up to float rounding (tests/test_policy_layout.py).
    """
    if batch_last and policy.bind_batch_last is not None:
        act_last = policy.bind_batch_last(params)
        return lambda obs: act_last(obs.T).T
    prepare, apply_prepared = policy.prepare, policy.apply_prepared
    if prepare is None or apply_prepared is None:
        apply = policy.apply
        return lambda obs: jax.vmap(apply)(params, obs)
    trees = jax.vmap(prepare)(params)
    return lambda obs: jax.vmap(apply_prepared)(trees, obs)


def _dense_last(x: Array, w: Array, b: Array) -> Array:
    """One layer of N policies, batch axis last: x [I, N], w [I, O, N], b [O, N] -> [O, N],
    summed in `_Dense`'s order (x_0 w_0 + x_1 w_1 + ... + b) for few inputs, else a dot."""
    if x.shape[0] > UNROLL_MAX_INPUTS:
        return jnp.einsum("in,ion->on", x, w) + b
    out = x[0][None, :] * w[0]
    for i in range(1, x.shape[0]):
        out = out + x[i][None, :] * w[i]
    return out + b


def _mlp_batch_last(template: PyTree, num_layers: int, hidden_activation: Callable
                    ) -> Callable[[Params], Callable[[Array], Array]]:
    """`Policy.bind_batch_last` for `_MLP`: each layer's kernel and bias gathered from the flat
    vectors' columns by index (the flat layout is ``ravel_pytree``'s, whatever it is)."""
    leaves, treedef = jax.tree.flatten(template)
    starts = np.cumsum([0] + [int(np.prod(x.shape)) for x in leaves])
    index = jax.tree.unflatten(treedef, [np.arange(a, a + int(np.prod(x.shape))).reshape(x.shape)
                                         for a, x in zip(starts, leaves, strict=False)])
    layers = [(index["params"][f"Dense_{i}"]["kernel"], index["params"][f"Dense_{i}"]["bias"])
              for i in range(num_layers)]

    def bind(params: Params) -> Callable[[Array], Array]:
        cols = params.T  # [D, N]
        weights = [(cols[k], cols[b]) for k, b in layers]  # [I, O, N], [O, N]: once

        def act(obs: Array) -> Array:  # [O, N] -> [A, N]
            x = obs
            for i, (w, b) in enumerate(weights):
                out = _dense_last(x, w, b)
                x = jnp.tanh(out) if i == len(weights) - 1 else hidden_activation(out)
            return x

        return act

    return bind


def from_flax(module: nn.Module, observation_size: int, batched: bool = False) -> Policy:
    """Wrap a flax module ``module.apply(variables, obs [O]) -> action [A]`` as a flat policy.
    ``batched``: the module also maps observations [N, O] to actions [N, A] (`Policy.apply_many`
    then calls it once on a batch)."""
    dummy = jnp.zeros((observation_size,))
    template = jax.eval_shape(module.init, jax.random.PRNGKey(0), dummy)
    others = sorted(set(template) - {"params"})
    if others:
        raise ValueError(f"policy {type(module).__name__} has flax collection(s) {others} "
                         f"besides 'params': ES perturbs every number of the flat parameter "
                         f"vector, so they would be perturbed like weights; give the policy "
                         f"parameters only (e.g. BatchNorm(use_running_average=True) with its "
                         f"statistics as constants, or observation normalization, which the "
                         f"objective already does)")
    zeros = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), template)
    _, unravel = ravel_pytree(zeros)
    num_params = sum(x.size for x in jax.tree.leaves(zeros))

    def init(key: Key) -> Params:
        return ravel_pytree(module.init(key, dummy))[0]

    def apply_prepared(variables: PyTree, obs: Array) -> Array:
        action: Array = module.apply(variables, obs)  # type: ignore[assignment]
        return action

    def apply(params: Params, obs: Array) -> Array:
        return apply_prepared(unravel(params), obs)

    return Policy(init, apply, num_params, unravel, unravel, apply_prepared,
                  apply if batched else None)


def from_apply(apply_fn: Callable[[PyTree, Array], Array], example_params: PyTree) -> Policy:
    """Wrap a plain ``apply_fn(params_pytree, obs) -> action``; ``example_params`` is the initial
    pytree (``init`` returns it for every key)."""
    flat, unravel = ravel_pytree(example_params)

    def apply(params: Params, obs: Array) -> Array:
        return apply_fn(unravel(params), obs)

    return Policy(lambda key: flat, apply, int(flat.size), unravel, unravel, apply_fn)


UNROLL_MAX_INPUTS = 64


class _Dense(nn.Module):
    """``nn.Dense`` with the same parameters (names, shapes, initialisers), computed for the
    regime ES runs it in: a batch of rollouts that each have their OWN weights (vmapped), where
    ``x @ kernel`` becomes a batched matrix-vector product per rollout per step. With a few
    inputs (<= UNROLL_MAX_INPUTS) the product is written as a sum of ``x_i * kernel_i`` rows,
    which XLA fuses with the activation into one elementwise loop; wider inputs keep the dot.
    Measured on the four-corners MLP(32) meta-step (first / second layer, 2-core CPU): unrolled /
    unrolled 24.5-30 ms, unrolled / dot 38 ms, dot / dot 50 ms, multiply-and-reduce 129-420 ms.
    A batch of observations under ONE parameter vector (PG-MAML's log-likelihoods: `Policy.
    apply_many`) arrives as x [N, O] and takes the dot: there the unrolled form, differentiated
    (PG-MAML goes to third order), cost 2.5-4x (n^2 zero-padded slices in every transpose)."""

    features: int
    kernel_init: Callable = nn.initializers.lecun_normal()

    @nn.compact
    def __call__(self, x):
        kernel = self.param("kernel", self.kernel_init, (x.shape[-1], self.features))
        bias = self.param("bias", nn.initializers.zeros, (self.features,))
        if x.ndim == 1 and x.shape[-1] <= UNROLL_MAX_INPUTS:
            out = x[0] * kernel[0]
            for i in range(1, x.shape[-1]):
                out = out + x[i] * kernel[i]
            return out + bias
        return x @ kernel + bias


class _MLP(nn.Module):
    """MLP with a tanh output. ``init="zero_output"``: tanh hidden units, flax's default
    initialisation, output layer at zero (the initial meta-policy acts 0 everywhere).
    ``init="reference"``: the authors' DeterministicNumpyPolicy: ReLU hidden units, every weight
    N(0, 2 / observation_size) (their code computes the He scale from the FIRST layer's fan-in
    and reuses it for every layer), biases zero."""

    hidden_sizes: Sequence[int]
    action_size: int
    init_scheme: str = "zero_output"  # (a field named ``init`` would shadow Module.init)

    @nn.compact
    def __call__(self, obs):
        x = obs
        # Explicit names keep the parameter tree (and so the flat layout) of nn.Dense layers.
        names = iter(f"Dense_{i}" for i in range(len(self.hidden_sizes) + 1))
        if self.init_scheme == "reference":
            w_init = nn.initializers.normal(stddev=(2.0 / obs.shape[-1]) ** 0.5)
            for width in self.hidden_sizes:
                x = nn.relu(_Dense(width, w_init, name=next(names))(x))
            return jnp.tanh(_Dense(self.action_size, w_init, name=next(names))(x))
        for width in self.hidden_sizes:
            x = jnp.tanh(_Dense(width, name=next(names))(x))
        out = _Dense(self.action_size, nn.initializers.zeros, name=next(names))(x)
        return jnp.tanh(out)


POLICY_INITS = ("zero_output", "reference")


def _check_init(init: str) -> str:
    if init not in POLICY_INITS:
        raise ValueError(f"unknown policy init {init!r}; known: {', '.join(POLICY_INITS)}")
    return init


class _Regressor(nn.Module):
    """ReLU MLP with a linear output (the MAML sine-regression convention, 1-40-40-1)."""

    hidden_sizes: Sequence[int]
    output_size: int

    @nn.compact
    def __call__(self, x):
        for width in self.hidden_sizes:
            x = nn.relu(nn.Dense(width)(x))
        return nn.Dense(self.output_size)(x)


def regressor(input_size: int = 1, output_size: int = 1,
              hidden_sizes: Sequence[int] = (40, 40)) -> Policy:
    """ReLU MLP regressor with flax's default initialisation (for supervised tasks)."""
    return from_flax(_Regressor(tuple(int(h) for h in hidden_sizes), output_size), input_size,
                     batched=True)


def linear(observation_size: int, action_size: int, init: str = "zero_output") -> Policy:
    """tanh(W s + b), the authors' released default; D = (O + 1) A. ``init``: "zero_output"
    (W = 0, b = 0: the meta-policy starts by standing still) or "reference" (the authors' code:
    W ~ N(0, 2 / O), b = 0)."""
    return _mlp_policy((), action_size, _check_init(init), observation_size)


def _mlp_policy(hidden_sizes: tuple[int, ...], action_size: int, init: str,
                observation_size: int) -> Policy:
    module = _MLP(hidden_sizes, action_size, init)
    policy = from_flax(module, observation_size, batched=True)
    if not hidden_sizes:  # linear: batch-first is the faster layout (`esmaml_jax.app.minimal`)
        return policy
    template = jax.eval_shape(module.init, jax.random.PRNGKey(0), jnp.zeros(observation_size))
    hidden = nn.relu if init == "reference" else jnp.tanh
    return policy._replace(bind_batch_last=_mlp_batch_last(template, len(hidden_sizes) + 1,
                                                           hidden))


def mlp(observation_size: int, action_size: int, hidden_sizes: Sequence[int] = (32,),
        init: str = "zero_output") -> Policy:
    """MLP with a tanh output; the paper's table uses one hidden layer of width 32. ``init``:
    "zero_output" (tanh hidden units, output layer zero) or "reference" (the authors' code:
    ReLU hidden units, N(0, 2 / O) weights, zero biases)."""
    if not hidden_sizes or any(int(h) < 1 for h in hidden_sizes):
        raise ValueError(f"hidden sizes must be positive integers, got {tuple(hidden_sizes)}")
    return _mlp_policy(tuple(int(h) for h in hidden_sizes), action_size, _check_init(init),
                       observation_size)


class GaussianPolicy(NamedTuple):
    """A stochastic policy N(mean(params, obs), diag(exp(log_std(params)))^2) over a flat vector:
    the mean network's parameters followed by one state-independent log standard deviation per
    action dimension (as in ProMP and Taming MAML). ``deterministic`` is the policy that acts
    with the mean (same flat vector), for deterministic evaluation and the ES-MAML machinery."""

    init: Callable[[Key], Params]
    mean: Callable[[Params, Array], Array]
    log_std: Callable[[Params], Array]
    num_params: int
    action_size: int
    deterministic: Policy

    def sample(self, params: Params, obs: Array, noise: Array) -> Array:
        """An action for standard-normal ``noise`` [A] (reparameterised)."""
        return self.mean(params, obs) + jnp.exp(self.log_std(params)) * noise

    def log_prob(self, params: Params, obs: Array, action: Array) -> Array:
        log_std = self.log_std(params)
        z = (action - self.mean(params, obs)) / jnp.exp(log_std)
        return -0.5 * jnp.sum(z**2) - jnp.sum(log_std) - 0.5 * action.shape[-1] * jnp.log(
            2 * jnp.pi)

    def kl(self, old: Params, new: Params, obs: Array) -> Array:
        """KL(pi_old(.|obs) || pi_new(.|obs)), closed form for diagonal Gaussians."""
        return self.kl_many(old, new, obs)

    def mean_many(self, params: Params, obs: Array) -> Array:
        """Mean actions [..., A] of observations [..., O] (`Policy.apply_many`: one network
        call on the batch where the mean network takes one)."""
        return self.deterministic.apply_many(params, obs)

    def log_prob_many(self, params: Params, obs: Array, actions: Array) -> Array:
        """log pi(a | s) [...] of observations [..., O] and actions [..., A]."""
        log_std = self.log_std(params)
        z = (actions - self.mean_many(params, obs)) / jnp.exp(log_std)
        return -0.5 * jnp.sum(z**2, axis=-1) - jnp.sum(log_std) - 0.5 * actions.shape[-1] * (
            jnp.log(2 * jnp.pi))

    def kl_many(self, old: Params, new: Params, obs: Array) -> Array:
        """KL(pi_old(.|s) || pi_new(.|s)) [...] of observations [..., O]."""
        mu_o, mu_n = self.mean_many(old, obs), self.mean_many(new, obs)
        ls_o, ls_n = self.log_std(old), self.log_std(new)
        return jnp.sum(ls_n - ls_o + (jnp.exp(2 * ls_o) + (mu_o - mu_n) ** 2)
                       / (2 * jnp.exp(2 * ls_n)) - 0.5, axis=-1)


def gaussian(policy: Policy, action_size: int, init_std: float = 1.0) -> GaussianPolicy:
    """``policy`` (deterministic, e.g. `linear` or `mlp`) as the mean of a Gaussian policy with a
    learned state-independent log-std, initialised to log(``init_std``). D = D_mean + A."""
    if not (init_std > 0 and jnp.isfinite(init_std)):
        raise ValueError(f"init_std must be > 0 and finite, got {init_std}")
    d_mean, log_init = policy.num_params, float(jnp.log(init_std))

    def init(key: Key) -> Params:
        return jnp.concatenate([policy.init(key), jnp.full((action_size,), log_init)])

    def mean(params: Params, obs: Array) -> Array:
        return policy.apply(params[:d_mean], obs)

    def log_std(params: Params) -> Array:
        return params[d_mean:]

    def unravel(params: Params) -> PyTree:
        return {"mean": policy.unravel(params[:d_mean]), "log_std": params[d_mean:]}

    mean_batch = None
    if policy.apply_batch is not None:
        apply_batch = policy.apply_batch

        def mean_batch(params: Params, obs: Array) -> Array:
            return apply_batch(params[:d_mean], obs)

    num = d_mean + action_size
    return GaussianPolicy(init, mean, log_std, num, action_size,
                          Policy(init, mean, num, unravel, apply_batch=mean_batch))
