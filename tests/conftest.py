import os

import jax
import pytest

# Share compiled programs between test runs (compile time dominates CPU test time).
_CACHE = os.environ.get("ESMAML_TEST_CACHE", os.path.expanduser("~/.cache/esmaml-jax-tests"))
jax.config.update("jax_compilation_cache_dir", _CACHE)
jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)


@pytest.fixture
def key():
    return jax.random.PRNGKey(0)
