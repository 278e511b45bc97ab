"""Every Python snippet of docs/ runs: each page's blocks in order, in one namespace (the first
block of a page is its set-up), in a fresh process with 4 CPU devices (the shard_map snippet
needs several)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def snippets(page: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", page.read_text(), flags=re.S)


PAGES = [p for p in sorted((ROOT / "docs").glob("*.md")) if snippets(p)]


def test_the_docs_have_snippets_to_run():
    assert {p.name for p in PAGES} >= {"jax_interop.md", "library.md"}


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_the_snippets_of_a_docs_page_run(page, tmp_path):
    blocks = snippets(page)
    script = "\n\n".join(f"# --- block {i}\n{b}" for i, b in enumerate(blocks))
    (tmp_path / "page.py").write_text(script)
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4",
           "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, str(tmp_path / "page.py")], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
