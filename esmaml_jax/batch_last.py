"""``vmap`` with the batch axis LAST: one flat batch of rollouts laid out [..., N].

``jax.vmap`` puts a batch axis in front ([N, ...]) and a ``lax.scan``'s carry always gets it
there, so a batch of point-mass rollouts carries positions [N, 2], observations [N, O] and, for
an MLP, hidden units [N, 32] and per-rollout weights [N, I, O]. On a CPU, XLA's loops vectorize
along the innermost axis, and here that axis has 2 elements (a position, an action, the output
layer's units), slices like ``x[:, i]`` are strided, and reductions run along it. With the batch
axis last every one of those becomes a contiguous row of N numbers. Measured on the minimal
four-corners rollout (6,600 episodes x 100 steps, interleaved rounds, same values bit for bit):
linear 2.16 -> 1.03 ms, MLP(32) 22.0 -> 15.3 ms (and 19.4 -> 8.8 ms in a quieter run). Inside
the library's meta-step (observation normalization, moments, done masks) the MLP(32) step gains
1.4x, the linear one on six circles (12-wide goal arrays) 1.5x, and the linear one on four
corners loses (see `WIDE`).

`vmap_last(fn)(shared, items)` means ``jax.vmap(fn, in_axes=(None, 0))(shared, items)``: the
items and the results keep their leading batch axis; inside, the single-item program (its
jaxpr) is evaluated equation by equation on batch-last arrays. Each primitive a rollout of a
pure-JAX env uses has a batch-last rule here (elementwise arithmetic, broadcasts, reshapes,
slices, reductions, concatenation, transposes, nested jits and ``lax.scan``); any other
equation runs under ``jax.vmap`` with its operands moved to the front and back (correct, at the
cost of two transposes). `suits(fn, ...)` says whether ``fn`` has a loop whose body holds
per-item arrays wide enough for the layout to pay (`WIDE`): `esmaml_jax.batching` uses it for
a flat batch only then (a linear policy on a point mass keeps ``jax.vmap``, measured slower).
Brax physics runs batch-last too, its dot products, gathers, scatters and conds through the
fallback (about 200 of its 6,200 loop equations): measured 1.7x faster per meta-step on the
spring backend (halfcheetah, ant, walker2d); the generalized backend (swimmer) gained nothing
and keeps ``jax.vmap`` (`envs.base.TaskEnv.batch_last`).

Pure-JAX envs: the rollouts compute the same operations in the same order, so the same
numbers (tested against ``jax.vmap`` for every pure-JAX env). The program around them can
fuse, and so round, differently (XLA:CPU contracts a * b + c into a fused multiply-add inside
a fusion): of the recorded whole-run hashes in tests/test_config.py, first_order's moved.
Brax: the same arithmetic fused differently, so last-bit differences from ``jax.vmap`` (1e-15
after one step in float64), which contact dynamics amplify as they amplify any rounding (a
rollout's last bits already depend on the batch it runs in); tested in float64.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.experimental.layout import Layout, with_layout_constraint
from jax.extend import core as jex_core

ELEMENTWISE = frozenset("""
abs acos acosh add and asin asinh atan atan2 atanh cbrt ceil clamp convert_element_type copy
copy_p cos cosh digamma div eq erf erf_inv erfc exp exp2 expm1 floor ge gt imag integer_pow
is_finite le lgamma log log1p logistic lt max min mul ne neg nextafter not or pow real
reduce_precision rem round rsqrt select_n sign sin sinh sqrt square sub tan tanh xor
""".split())
REDUCTIONS = frozenset("reduce_sum reduce_max reduce_min reduce_prod reduce_and reduce_or "
                       "argmax argmin".split())
CALLS = frozenset("jit pjit closed_call core_call custom_jvp_call custom_vjp_call".split())


def _sub_jaxpr(eqn) -> jex_core.ClosedJaxpr:
    """The ClosedJaxpr a call-like equation runs."""
    p = eqn.params
    for name in ("jaxpr", "call_jaxpr", "fun_jaxpr"):
        if name in p:
            j = p[name]
            return j if isinstance(j, jex_core.ClosedJaxpr) else jex_core.ClosedJaxpr(j, ())
    raise TypeError(f"a {eqn.primitive.name} equation without a jaxpr parameter "
                    f"(looked for jaxpr, call_jaxpr, fun_jaxpr): this JAX names it otherwise")


def loop_width(jaxpr: jex_core.Jaxpr, in_loop: bool = False) -> int | None:
    """The largest per-item size of any value computed inside a loop body (scan / while) of
    ``jaxpr``; None when nothing is computed inside a loop."""
    width = None
    for eqn in jaxpr.eqns:
        if in_loop:
            for v in eqn.outvars:
                width = max(width or 0, math.prod(getattr(v.aval, "shape", ())))
        inner = in_loop or eqn.primitive.name in ("scan", "while")
        for sub in jex_core.jaxprs_in_params(eqn.params):
            sub_width = loop_width(sub, inner)
            if sub_width is not None:
                width = max(width or 0, sub_width)
    return width


# The layout pays where a rollout's loop holds per-item arrays wider than a few numbers: an
# MLP's hidden units, six circles' goals. Measured on the meta-step (P 150, K 20, H 100, 7
# interleaved rounds, same parameters bit for bit, vmap / batch-last time, median): four
# corners MLP(32) 1.43 (22.6 -> 15.8 ms); linear policy: six circles (12-wide goal arrays)
# 1.49, penalized four corners (8-wide) 0.78, four corners (2-wide) 0.92 (1.39 -> 1.79 ms in
# an earlier run). Bare four-corners rollouts (6,600 x 100 steps, 5 interleaved rounds):
# MLP(4) 0.92, MLP(8) 1.14, MLP(16) 2.48, MLP(32) 1.77. So 12: every case measured at 12 or
# more pays, at 8 one of two does not.
WIDE = 12


def pays(width: int | None) -> bool:
    """Whether a program whose `loop_width` is ``width`` takes the batch-last layout: it has a
    loop holding arrays of at least `WIDE` numbers per item (where the layout was measured to
    pay). Equations without a batch-last rule run through the fallback; Brax's (dot products,
    gathers, scatters) did not stop it paying."""
    return width is not None and width >= WIDE


def suits_jaxpr(jaxpr: jex_core.Jaxpr) -> bool:
    """`pays` for ``jaxpr``."""
    return pays(loop_width(jaxpr))


def suits(fn: Callable, *example_args) -> bool:
    """`suits_jaxpr` of ``fn`` traced on one item."""
    return suits_jaxpr(jax.make_jaxpr(fn)(*example_args).jaxpr)


class _Interpreter:
    """Evaluates a single-item jaxpr on values that are either unbatched (the item's shape) or
    batched with the batch axis last (the item's shape + (n,))."""

    def __init__(self, n: int):
        self.n = n

    def full(self, x, shape: Sequence[int], batched: bool):
        """x as a batched value of item shape ``shape``."""
        shape = tuple(shape)
        if batched:
            if x.shape[:-1] == shape:
                return x
            # an item scalar, or (lax's implicit broadcasting) size-1 axes of the same rank
            dims = (len(shape),) if x.ndim == 1 else tuple(range(x.ndim))
            return lax.broadcast_in_dim(x, (*shape, self.n), dims)
        if jnp.ndim(x) == 0:
            return jnp.full((*shape, self.n), x, jnp.asarray(x).dtype)
        return lax.broadcast_in_dim(x, (*shape, self.n), tuple(range(x.ndim)))

    def run(self, closed: jex_core.ClosedJaxpr, args, flags):
        return self.run_jaxpr(closed.jaxpr, list(closed.consts), args, flags)

    def run_jaxpr(self, jaxpr: jex_core.Jaxpr, consts, args, flags):
        env: dict[Any, tuple[Any, bool]] = {}

        def read(v):
            if isinstance(v, jex_core.Literal):  # with its own dtype (not a weak Python one)
                return np.asarray(v.val, v.aval.dtype), False
            return env[v]

        for v, c in zip(jaxpr.constvars, consts, strict=True):
            env[v] = (c, False)
        for v, a, f in zip(jaxpr.invars, args, flags, strict=True):
            env[v] = (a, f)
        for eqn in jaxpr.eqns:
            pairs = [read(v) for v in eqn.invars]
            outs, out_flags = self.eqn(eqn, [a for a, _ in pairs], [f for _, f in pairs])
            for v, o, f in zip(eqn.outvars, outs, out_flags, strict=True):
                shape = tuple(getattr(v.aval, "shape", ()))
                want = (*shape, self.n) if f else shape
                if jnp.shape(o) != want:
                    raise AssertionError(f"batch-last rule of {eqn.primitive.name} gave "
                                         f"{jnp.shape(o)}, expected {want}: {eqn}")
                if not isinstance(v, jex_core.DropVar):
                    env[v] = (o, f)
        res = [read(v) for v in jaxpr.outvars]
        return [r[0] for r in res], [r[1] for r in res]

    def eqn(self, eqn, vals, flags):
        prim, params = eqn.primitive, eqn.params
        name = prim.name
        if not any(flags):
            outs = prim.bind(*vals, **params)
            outs = outs if prim.multiple_results else [outs]
            return list(outs), [False] * len(outs)
        if name in CALLS:
            return self.run(_sub_jaxpr(eqn), vals, flags)
        if name == "scan":
            return self.scan(eqn, vals, flags)
        n = self.n
        if name in ELEMENTWISE:
            shape = eqn.outvars[0].aval.shape
            ops = [self.full(x, shape, f) for x, f in zip(vals, flags, strict=True)]
            return [prim.bind(*ops, **params)], [True]
        if name in REDUCTIONS:
            return [prim.bind(vals[0], **params)], [True]
        if name == "broadcast_in_dim":
            shape = tuple(params["shape"])
            out = lax.broadcast_in_dim(vals[0], (*shape, n),
                                       (*params["broadcast_dimensions"], len(shape)))
            return [out], [True]
        if name == "reshape":
            return [lax.reshape(vals[0], (*params["new_sizes"], n))], [True]
        if name == "slice":
            strides = params["strides"]
            out = lax.slice(vals[0], (*params["start_indices"], 0),
                            (*params["limit_indices"], n),
                            None if strides is None else (*strides, 1))
            return [out], [True]
        if name == "squeeze":
            return [lax.squeeze(vals[0], params["dimensions"])], [True]
        if name == "transpose":
            perm = tuple(params["permutation"])
            return [lax.transpose(vals[0], (*perm, len(perm)))], [True]
        if name == "concatenate":
            ops = [self.full(x, v.aval.shape, f)
                   for x, f, v in zip(vals, flags, eqn.invars, strict=True)]
            return [lax.concatenate(ops, params["dimension"])], [True]
        return self.fallback(eqn, vals, flags)

    def fallback(self, eqn, vals, flags):
        """Any other primitive: ``jax.vmap`` of it, operands moved to the front and back."""
        prim, params = eqn.primitive, eqn.params
        ops = [jnp.moveaxis(x, -1, 0) if f else x for x, f in zip(vals, flags, strict=True)]

        def one(*a):
            out = prim.bind(*a, **params)
            return list(out) if prim.multiple_results else [out]

        outs = jax.vmap(one, in_axes=[0 if f else None for f in flags])(*ops)
        return [jnp.moveaxis(o, 0, -1) for o in outs], [True] * len(outs)

    def scan(self, eqn, vals, flags):
        """``lax.scan`` with batch-last carries and per-step slices. A carry is batched when its
        start or the body makes it so (a fixed point, as ``jax.vmap`` does): a carry that
        stays unbatched (e.g. an "alive" mask on an env that never ends) stays visible to XLA
        as the constant it is, so it simplifies the same expressions it does under vmap."""
        p = eqn.params
        body: jex_core.ClosedJaxpr = p["jaxpr"]
        nc, nk = p["num_consts"], p["num_carry"]
        consts, cflags = vals[:nc], flags[:nc]
        xs, xflags = vals[nc + nk:], flags[nc + nk:]
        kflags = list(flags[nc:nc + nk])
        while True:
            out = _out_flags(body.jaxpr, [*cflags, *kflags, *xflags])
            new_k = [a or b for a, b in zip(kflags, out[:nk], strict=True)]
            if new_k == kflags:
                break
            kflags = new_k
        yflags = out[nk:]
        carry_avals = [v.aval for v in eqn.invars[nc:nc + nk]]
        init = [self.full(x, a.shape, f) if k else x
                for x, f, k, a in zip(vals[nc:nc + nk], flags[nc:nc + nk], kflags, carry_avals,
                                      strict=True)]

        def step(carry, x):
            outs, out_flags = self.run(body, [*consts, *carry, *x], [*cflags, *kflags, *xflags])
            new = [self.full(o, a.shape, f) if k else o for o, f, k, a in
                   zip(outs[:nk], out_flags[:nk], kflags, carry_avals, strict=True)]
            return new, outs[nk:]

        carry, ys = lax.scan(step, init, list(xs), length=p["length"], reverse=p["reverse"],
                             unroll=p["unroll"])
        return [*carry, *ys], [*kflags, *yflags]


def _out_flags(jaxpr: jex_core.Jaxpr, in_flags: Sequence[bool]) -> list[bool]:
    """Which outputs of ``jaxpr`` the interpreter makes batched, given which inputs are: an
    equation's outputs are batched when any input is (scan: its carries' fixed point)."""
    env = dict(zip(jaxpr.invars, in_flags, strict=True))

    def read(v):
        return False if isinstance(v, jex_core.Literal) else env.get(v, False)

    for eqn in jaxpr.eqns:
        fl = [read(v) for v in eqn.invars]
        if eqn.primitive.name == "scan" and any(fl):
            p = eqn.params
            nc, nk = p["num_consts"], p["num_carry"]
            k = fl[nc:nc + nk]
            while True:
                out = _out_flags(p["jaxpr"].jaxpr, [*fl[:nc], *k, *fl[nc + nk:]])
                new_k = [a or b for a, b in zip(k, out[:nk], strict=True)]
                if new_k == k:
                    break
                k = new_k
            outs = [*k, *out[nk:]]
        elif eqn.primitive.name in CALLS and any(fl):
            outs = _out_flags(_sub_jaxpr(eqn).jaxpr, fl)
        else:
            outs = [any(fl)] * len(eqn.outvars)
        for v, f in zip(eqn.outvars, outs, strict=True):
            env[v] = f
    return [read(v) for v in jaxpr.outvars]


def run(closed: jex_core.ClosedJaxpr, leaves: Sequence[Any], batched: Sequence[bool]) -> list:
    """Evaluate the single-item program ``closed`` on ``leaves`` whose ``batched`` ones carry a
    leading batch axis; returns its outputs, every one with the leading batch axis."""
    n = next(x.shape[0] for x, b in zip(leaves, batched, strict=True) if b)
    args = [jnp.moveaxis(x, 0, -1) if b else x for x, b in zip(leaves, batched, strict=True)]
    outs, flags = _Interpreter(n).run(closed, args, list(batched))
    outs = [jnp.moveaxis(o, -1, 0) if f else jnp.broadcast_to(o, (n, *jnp.shape(o)))
            for o, f in zip(outs, flags, strict=True)]
    # The results leave in the usual (row-major) layout: left free, XLA folds the transposes
    # into whatever consumes them (first_order's sum over the batch of the observation
    # moments, which it then added up in another order: last-bit differences from vmap,
    # amplified by training; found by tests/test_config.py's recorded hashes).
    return [with_layout_constraint(o, Layout(tuple(range(o.ndim)))) for o in outs]


def vmap_last(fn: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """``fn(shared, item)`` over items with a leading batch axis, computed batch-last inside
    (same values as ``jax.vmap(fn, in_axes=(None, 0))``). ``shared`` is not batched."""

    def batched(shared, items):
        one = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape[1:], x.dtype), items)
        closed, out_shape = jax.make_jaxpr(fn, return_shape=True)(shared, one)
        s_leaves, i_leaves = jax.tree.leaves(shared), jax.tree.leaves(items)
        outs = run(closed, [*s_leaves, *i_leaves], [False] * len(s_leaves) + [True] * len(i_leaves))
        return jax.tree.unflatten(jax.tree.structure(out_shape), outs)

    return batched
