"""`esmaml_jax.batching.flat_vmap`: stacked vmaps give the plain function's values, shared
arguments may be batched (seeds), and differentiation is the plain function's."""

import jax
import jax.numpy as jnp
import numpy as np

from esmaml_jax.batching import flat_vmap


def fn(shared, item):
    """A small scan with a carry, like a rollout: shared = (scale [], offset [2])."""
    scale, offset = shared
    x, w = item

    def body(c, _):
        c = jnp.tanh(c * w + offset) * scale
        return c, None

    c, _ = jax.lax.scan(body, x, None, length=5)
    return c.sum(), {"sq": c**2}


FLAT = flat_vmap(fn)
SHARED = (jnp.float32(1.5), jnp.array([0.1, -0.2]))


def _items(*shape):
    k1, k2 = jax.random.split(jax.random.PRNGKey(0))
    return (jax.random.normal(k1, (*shape, 2)), jax.random.normal(k2, (*shape, 2)))


def _nest(f, depth, in_axes):
    for _ in range(depth):
        f = jax.vmap(f, in_axes=in_axes)
    return f


def test_stacked_vmaps_equal_the_plain_function():
    items = _items(3, 2, 4)
    want = _nest(fn, 3, (None, 0))(SHARED, items)
    got = jax.jit(_nest(FLAT, 3, (None, 0)))(SHARED, items)
    jax.tree.map(np.testing.assert_allclose, got, want)
    # Broadcast items (an unbatched axis in the middle, like tasks shared by the signs).
    x, w = _items(3, 4)
    mixed = lambda f: jax.vmap(jax.vmap(lambda s, a, b: f(s, (a, b)), (None, None, 0)),
                               (None, 0, 0))
    jax.tree.map(np.testing.assert_allclose, jax.jit(mixed(FLAT))(SHARED, x[:, 0], w),
                 mixed(fn)(SHARED, x[:, 0], w))


def test_batched_shared_argument_is_spread_per_item():
    """Over seeds the normalizer differs per seed: a vmap that batches ``shared``."""
    scales = jnp.array([0.5, 1.0, 2.0])
    items = _items(3, 4)
    run = lambda f: jax.vmap(lambda s, it: jax.vmap(lambda i: f((s, SHARED[1]), i))(it))
    jax.tree.map(np.testing.assert_allclose, jax.jit(run(FLAT))(scales, items),
                 run(fn)(scales, items))


def test_gradients_are_the_plain_functions():
    items = _items(4)
    loss = lambda f: lambda s, it: jnp.sum(jax.vmap(lambda i: f(s, i)[0])(it) ** 2)
    g_flat = jax.grad(loss(FLAT))(SHARED, items)
    g_plain = jax.grad(loss(fn))(SHARED, items)
    jax.tree.map(np.testing.assert_allclose, g_flat, g_plain)
    # ... and gradients per item under vmap (MAML-style: grad inside a vmap).
    per = lambda f: jax.vmap(jax.grad(lambda it: f(SHARED, it)[0]))
    jax.tree.map(np.testing.assert_allclose, per(FLAT)(items), per(fn)(items))


def test_chunked_lax_map_equals_plain():
    items = _items(6, 3)
    f = lambda g: lambda it: jax.lax.map(jax.vmap(lambda i: g(SHARED, i)[0]), it, batch_size=2)
    np.testing.assert_allclose(jax.jit(f(FLAT))(items), f(fn)(items))
