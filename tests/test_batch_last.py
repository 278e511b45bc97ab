"""`esmaml_jax.batch_last`: a flat batch evaluated with the batch axis last gives exactly what
``jax.vmap`` gives (same operations, same order), for every rule and for every pure-JAX env."""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
from esmaml_jax import batch_last, batching, objectives, policies


def _equal(a, b):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        assert x.shape == y.shape and x.dtype == y.dtype
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def every_rule(shared, item):
    """One item: x [3, 2], w [2], k []: a scan plus each shape rule, and two primitives that
    take the fallback (a dot and a cumulative sum). (`vmap_last` runs it batch-last whether or
    not `suits` would choose to.)"""
    x, w, k = item
    offset, table = shared
    y = jnp.concatenate([x, table[:1]], axis=0)  # [4, 2], one operand unbatched
    y = jnp.transpose(y)[:, 1:3]  # [2, 2]
    y = y.reshape(4)[::2] + jnp.arange(2.0)  # strided slice, iota
    y = jnp.squeeze(jnp.expand_dims(y, 0), 0) - x[:1, :]  # implicit size-1 broadcasting
    z = jnp.clip(jnp.where(y > 0, y, -y), 0.1, offset)  # select_n, clamp with a scalar
    z = jax.nn.relu(z - 0.3) + jnp.argmax(x, axis=0) * k  # custom_jvp, argmax
    dot = x @ w  # fallback
    csum = jnp.cumsum(dot)  # fallback

    def body(carry, xs_t):
        c, const, alive = carry  # ``const`` stays unbatched
        c = jnp.tanh(c * w + xs_t) * const
        return (c, const, alive * 1.0), c.sum()

    (c, const, alive), ys = jax.lax.scan(body, (z[0], jnp.float32(1.5), jnp.ones(())), x,
                                         unroll=2)
    (_, _, _), ys_rev = jax.lax.scan(body, (z[0], jnp.float32(0.5), jnp.ones(())), x,
                                     reverse=True)
    return {"c": c, "const": const, "alive": alive, "ys": ys, "rev": ys_rev,
            "sum": jnp.sum(z, axis=1).max(), "dot": dot, "csum": csum}


def _items(n):
    ks = jax.random.split(jax.random.PRNGKey(3), 3)
    return (jax.random.normal(ks[0], (n, 3, 2)), jax.random.normal(ks[1], (n, 2)),
            jax.random.normal(ks[2], (n,)))


SHARED = (jnp.float32(0.9), jnp.array([[0.2, -0.4], [1.0, 2.0]]))


def test_every_rule_equals_vmap():
    items = _items(13)
    _equal(jax.jit(batch_last.vmap_last(every_rule))(SHARED, items),
           jax.jit(jax.vmap(every_rule, in_axes=(None, 0)))(SHARED, items))


def test_an_unbatched_carry_stays_unbatched_inside_the_loop():
    """XLA simplifies a loop-invariant carry (an "alive" mask on an env that never ends) only if
    the batch axis is not added to it; with it added the moments of a four-corners rollout
    differed from vmap's in the last bit (found, fixed, kept here)."""
    one = jax.tree.map(lambda a: a[0], _items(1))
    closed = jax.make_jaxpr(every_rule)(SHARED, one)
    scan = next(e for e in closed.jaxpr.eqns if e.primitive.name == "scan")
    # jax hoists the unchanged carry ``const``: consts (const, w), carries (c, alive), xs
    assert (scan.params["num_consts"], scan.params["num_carry"]) == (2, 2)
    flags = batch_last._out_flags(scan.params["jaxpr"].jaxpr, [False, True, True, False, True])
    assert flags == [True, False, True]  # c batched, alive not, ys batched


def test_only_programs_with_a_wide_loop_take_the_layout():
    one = jax.tree.map(lambda a: a[0], _items(1))
    assert not batch_last.suits(every_rule, SHARED, one)  # nothing wider than 2 in its loop

    wide = lambda shared, item: _wide(shared, (item[1], item[1]))  # w [2] per item
    assert batch_last.suits(wide, SHARED, one)
    items = _items(11)
    _equal(jax.jit(batch_last.vmap_last(wide))(SHARED, items),
           jax.jit(jax.vmap(wide, in_axes=(None, 0)))(SHARED, items))

    def dot_in_loop(shared, item):  # a fallback (the dot) in a wide loop: it still pays
        x, w, _ = item
        m = jnp.outer(jnp.tile(w, 8), jnp.tile(w, 8)) / 16  # [16, 16] per item
        c, _ = jax.lax.scan(lambda c, _: (jnp.tanh(m @ c), None), jnp.tile(w, 8), None,
                            length=3)
        return c

    assert batch_last.suits(dot_in_loop, SHARED, one)
    _equal(jax.jit(batch_last.vmap_last(dot_in_loop))(SHARED, items),
           jax.jit(jax.vmap(dot_in_loop, in_axes=(None, 0)))(SHARED, items))
    assert not batch_last.suits(lambda s, it: it[0] * 2, SHARED, one)  # no loop: nothing to gain


def rollout_case(env_name, policy_name, horizon, n):
    """(f(norm, item) -> an episode's evaluation, the initial normalizer, n items (keys,
    parameters, tasks)) of ``env_name`` without flat batching, for comparing layouts."""
    fam = envs.make(env_name)
    policy = policies.make(policy_name, fam.observation_size, fam.action_size)
    obj = objectives.rl_objective(fam, policy, horizon=horizon, flat_batching=False)
    keys = jax.random.split(jax.random.PRNGKey(0), n)
    tasks = fam.sample_train_tasks(jax.random.PRNGKey(1), n)
    params = 0.3 * jax.random.normal(jax.random.PRNGKey(2), (n, policy.num_params))
    f = lambda norm, item: obj.evaluate(item[0], item[1], item[2], norm)
    return f, obj.init_norm(), (keys, params, tasks)


PURE_JAX = ["four_corners", "four_corners_penalized", "six_circles", "navigation_2d",
            "biased_cartpole"]


@pytest.mark.parametrize("policy_name", ["linear", "mlp"])
@pytest.mark.parametrize("env_name", PURE_JAX)
def test_rollouts_of_every_pure_jax_env_equal_vmap_bit_for_bit(env_name, policy_name):
    f, norm, (keys, params, tasks) = rollout_case(env_name, policy_name, horizon=30, n=19)
    # a normalizer that is not the identity
    norm = norm._replace(count=jnp.float32(50.0), mean=norm.mean + 0.3, m2=norm.m2 + 20.0)
    one = jax.tree.map(lambda a: a[0], (keys, params, tasks))
    # a linear policy holds nothing wide (`batch_last.WIDE`) but six circles' 12 goal
    # coordinates: the others keep vmap
    assert batch_last.suits(f, norm, one) == (policy_name == "mlp"
                                              or env_name == "six_circles")
    _equal(jax.jit(batch_last.vmap_last(f))(norm, (keys, params, tasks)),
           jax.jit(jax.vmap(f, in_axes=(None, 0)))(norm, (keys, params, tasks)))


@pytest.mark.slow
def test_the_meta_step_gives_the_same_numbers_in_either_layout():
    """Four corners, MLP(32): the whole step (nested vmaps around the rollouts) under
    ``layout("auto")`` (batch-last) and ``layout("vmap")``."""
    from esmaml_jax.app import Config, build

    config = Config()
    for path, value in [("policy.name", "mlp"), ("algorithm.num_perturbations", 4),
                        ("adaptation.num_queries", 3), ("objective.horizon", 20)]:
        config = config.set(path, value)
    key = jax.random.PRNGKey(1)
    out = {}
    for name in ("auto", "vmap"):
        # built afresh per layout: JAX reuses the lowering of an inner jit it has seen
        algo = build(config).algorithm
        state = algo.init(jax.random.PRNGKey(0))
        with batching.layout(name):
            step = jax.jit(algo.step)
            text = step.lower(state, key).as_text()
            out[name] = (step(state, key), text)
    _equal(out["auto"][0], out["vmap"][0])
    assert out["auto"][1] != out["vmap"][1]  # really two different programs
    with pytest.raises(ValueError, match="unknown flat-batch layout"):
        with batching.layout("rows"):
            pass


BRAX_CHECK = """
import jax, jax.numpy as jnp
from esmaml_jax import batch_last
from test_batch_last import rollout_case
assert jnp.zeros(()).dtype == jnp.float64
f, norm, (keys, params, tasks) = rollout_case("ant_forward_backward", "linear", horizon=4, n=3)
print("suits", batch_last.suits(f, norm, jax.tree.map(lambda a: a[0], (keys, params, tasks))))
a = jax.jit(batch_last.vmap_last(f))(norm, (keys, params, tasks))
b = jax.jit(jax.vmap(f, in_axes=(None, 0)))(norm, (keys, params, tasks))
for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
    assert x.shape == y.shape and x.dtype == y.dtype, (x.shape, y.shape, x.dtype, y.dtype)
    scale = float(jnp.max(jnp.abs(y))) + 1.0
    print("relative difference", float(jnp.max(jnp.abs(x - y))) / scale)
"""


@pytest.mark.slow
def test_brax_rollouts_take_the_layout_and_agree_with_vmap_to_rounding():
    """Brax physics runs batch-last (its dots, gathers and scatters through the fallback). It
    fuses differently, so it rounds differently, and contacts amplify rounding: the check is
    in float64 (a subprocess with JAX_ENABLE_X64), where a wrong rule would show at 1e-3 and
    rounding shows at 1e-13 after 4 steps (halfcheetah: 1e-15 after 1, 3e-13 after 5)."""
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", BRAX_CHECK], capture_output=True, text=True,
                          timeout=600, cwd=os.path.dirname(__file__),
                          env={**os.environ, "JAX_ENABLE_X64": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.split("\n")
    assert "suits True" in lines
    diffs = [float(x.split()[-1]) for x in lines if x.startswith("relative difference")]
    assert len(diffs) >= 2 and max(diffs) < 1e-9, proc.stdout


def _wide(shared, item):
    x, w = item
    hidden = jnp.tanh(jnp.outer(x, jnp.ones(16)))  # [2, 16] per item: the layout pays
    c, _ = jax.lax.scan(lambda c, _: (jnp.tanh(c[:, None] * hidden).sum(1) * w, None), x, None,
                        length=3)
    return c


def test_batch_last_is_a_cpu_lowering_and_exported_programs_keep_vmap():
    """The layout was measured on a CPU: other platforms lower the plain vmap. `jax.export`
    cannot serialize the layout constraint the batch-last program ends with, so an exported
    program (any platform) gets the vmap layout, and it runs and agrees."""
    from jax import export

    f = jax.jit(jax.vmap(batching.flat_vmap(_wide), in_axes=(None, 0)))
    args = (jnp.float32(1.0), (jax.random.normal(jax.random.PRNGKey(0), (5, 2)),
                               jax.random.normal(jax.random.PRNGKey(1), (5, 2))))
    assert "LayoutConstraint" in f.lower(*args).as_text()  # CPU: batch-last chosen
    for platform in ("cpu", "cuda"):
        text = export.export(f, platforms=[platform])(*args).mlir_module()
        assert "LayoutConstraint" not in text
    exported = export.export(f, platforms=["cpu"])(*args)
    np.testing.assert_array_equal(exported.call(*args), f(*args))


def test_a_bad_layout_in_the_environment_is_refused():
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", "import esmaml_jax.batching"],
                          env={**os.environ, "ESMAML_FLAT_LAYOUT": "rows"},
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "ESMAML_FLAT_LAYOUT='rows'" in proc.stderr


@pytest.mark.parametrize("env_name,expected", [("ant_forward_backward", True),
                                               ("swimmer_forward_backward", False)])
def test_an_env_can_keep_vmap_and_brax_generalized_does(env_name, expected):
    """`TaskEnv.batch_last`: the generalized backend (swimmer) measured no faster batch-last
    (1.02x) and compiling longer, so its flat batches keep vmap; spring (ant) takes the layout.
    Read off the lowered program (no compilation): batch-last ends in a layout constraint."""
    fam = envs.make(env_name)
    assert fam.env.batch_last is expected
    policy = policies.make("linear", fam.observation_size, fam.action_size)
    obj = objectives.rl_objective(fam, policy, horizon=3)
    n = 2
    keys = jax.random.split(jax.random.PRNGKey(0), n)
    tasks = fam.sample_train_tasks(jax.random.PRNGKey(1), n)
    params = jnp.zeros((n, policy.num_params))
    f = jax.vmap(lambda k, p, t: obj.evaluate(k, p, t, obj.init_norm())[0])
    with batching.layout("auto"):
        text = jax.jit(f).lower(keys, params, tasks).as_text()
    assert ("LayoutConstraint" in text) is expected
