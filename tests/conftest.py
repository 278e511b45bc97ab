import os

import jax
import pytest

# Share compiled programs between test runs (compile time dominates CPU test time).
_CACHE = os.environ.get("ESMAML_TEST_CACHE", os.path.expanduser("~/.cache/esmaml-jax-tests"))
jax.config.update("jax_compilation_cache_dir", _CACHE)
jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)
# Start JAX's backend now, with the process's own device count: `esmaml train` called in-process
# (cli.main) would otherwise present one device per core (--cpu-devices auto) whenever it is the
# first thing in a test process to touch JAX, and the run's numbers would depend on test order.
jax.devices()


@pytest.fixture
def key():
    return jax.random.PRNGKey(0)
