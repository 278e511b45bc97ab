"""`esmaml_jax.batching.flat_vmap`: stacked vmaps give the plain function's values, shared
arguments may be batched (seeds), and differentiation is the plain function's."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

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


def test_record_batches_counts_each_execution_of_each_flat_batch():
    from esmaml_jax.batching import record_batches

    with record_batches() as sizes:
        f = jax.jit(lambda xs: jax.lax.scan(
            lambda c, x: (c + _nest(FLAT, 2, (None, 0))(SHARED, x)[0].sum(), None), 0.0,
            xs)[0])
        f(_items(3, 4, 5))
    assert sizes == [20, 20, 20]  # one [4 x 5] batch, flattened, run by 3 scan iterations
    # Outside the context nothing is recorded, and a program traced outside records nothing.
    g = jax.jit(lambda it: _nest(FLAT, 1, (None, 0))(SHARED, it))
    g(_items(6))
    with record_batches() as later:
        g(_items(6))
    assert sizes == [20, 20, 20] and later == []


@pytest.mark.slow
def test_rollout_batches_of_a_meta_step_are_the_operators_query_schedule():
    """Known schedules (P 2 antithetic, T 1, K 3): es_gradient runs P * 2 * (K + 1) queries and
    centres as one batch and the P * 2 evaluations as another; hill climbing scores the pivot
    (E evaluations), then K iterations of E evaluations each, then the evaluations."""
    import envs
    from esmaml_jax import adaptation, bench, policies
    from esmaml_jax.algorithms import zero_order
    from esmaml_jax.objectives import rl_objective

    fam = envs.make("four_corners", horizon=3)
    obj = rl_objective(fam, policies.linear(fam.observation_size, fam.action_size))
    key = jax.random.PRNGKey(0)

    def batches(op):
        algo = zero_order(obj, op, num_perturbations=2)
        return bench.rollout_batches(algo, algo.init(key), key)

    assert batches(adaptation.es_gradient(num_queries=3)) == [(16, 1), (4, 1)]
    assert batches(adaptation.hill_climb(num_queries=3)) == [(4, 5)]
    assert batches(adaptation.hill_climb(num_queries=3, parallel_evaluations=2)) == [(8, 4),
                                                                                      (4, 1)]


def test_the_step_without_rollouts_keeps_everything_but_the_rollouts():
    """The benchmark's "outside" program (`bench.without_rollouts`): the same step with no
    rollout left in it (no flat batch runs, no scan over the horizon), the rollout's outputs of
    the same shapes, and a stand-in value that depends on the parameters, the task and the key
    (so XLA keeps what produces them)."""
    import envs
    from esmaml_jax import adaptation, bench, policies
    from esmaml_jax.algorithms import zero_order
    from esmaml_jax.objectives import rl_objective

    fam = envs.make("four_corners", horizon=7)
    obj = rl_objective(fam, policies.linear(fam.observation_size, fam.action_size))
    key = jax.random.PRNGKey(0)
    algo = zero_order(obj, adaptation.es_gradient(num_queries=3), num_perturbations=2)
    state = algo.init(key)
    stand_in = bench.without_rollouts(obj, state.norm)
    task = jax.tree.map(lambda x: x[0], obj.sample_train_tasks(key, 1))
    real = jax.eval_shape(obj.evaluate, key, state.params, task, state.norm)
    fake = jax.eval_shape(stand_in.evaluate, key, state.params, task, state.norm)
    assert jax.tree.structure(real) == jax.tree.structure(fake)
    assert [x.shape for x in jax.tree.leaves(real)] == [x.shape for x in jax.tree.leaves(fake)]
    v = lambda k, p, t: stand_in.evaluate(k, p, t, state.norm)[0]
    assert float(jnp.abs(jax.grad(v, argnums=1)(key, state.params, task)).min()) > 0
    assert v(key, state.params, task) != v(jax.random.PRNGKey(1), state.params, task)
    other = jax.tree.map(lambda x: x + 1, task)
    assert v(key, state.params, task) != v(key, state.params, other)
    outside = zero_order(stand_in, adaptation.es_gradient(num_queries=3), num_perturbations=2)
    with pytest.raises(ValueError, match="no flat rollout batches"):
        bench.rollout_batches(outside, state, key)
    # the real step's loops are the stand-in's plus one scan over the horizon per rollout call
    # site (the queries with their centres, the evaluations)
    loops = lambda a: jax.jit(a.step).lower(state, key).as_text().count("stablehlo.while")
    assert loops(outside) == loops(algo) - 2


def test_the_function_is_traced_once_per_call_site_however_many_vmaps():
    """Compile time: a rollout under the meta-step's 4 stacked vmaps used to be traced again at
    every level (custom_vmap stores each level's jaxpr): 5 traces of the Brax physics per call
    site, 16 of a halfcheetah step's 22 s compile. The primitive traces it once per per-item
    signature (cached): the same program gives its output shapes and is what gets lowered."""
    calls = []

    def counted(shared, item):
        calls.append(1)
        return fn(shared, item)

    flat = flat_vmap(counted)
    items = _items(2, 3, 4, 5)
    got = jax.jit(_nest(flat, 4, (None, 0))).lower(SHARED, items).compile()(SHARED, items)
    assert len(calls) == 1
    jax.tree.map(np.testing.assert_allclose, got, _nest(fn, 4, (None, 0))(SHARED, items))
    # A second call site with the same per-item signature reuses the cached shapes.
    first = lambda it: jax.tree.map(lambda a: a[:, 0], it)
    both = jax.jit(lambda it: (_nest(flat, 2, (None, 0))(SHARED, it)[0],
                               _nest(flat, 1, (None, 0))(SHARED, first(it))[0]))
    both.lower(_items(3, 4))
    assert len(calls) == 1
