"""Checkpoints of the full algorithm state with orbax, verified on restore.

Each checkpoint holds the `MetaState` pytree (meta parameters, optimizer state, normalizer
statistics, operator state, hyperparameters, step counter) and a JSON record of the host loop's
position (meta-steps done, env steps) plus a SHA-256 of every state leaf. orbax writes each
checkpoint to a temporary folder and renames it when complete (atomic) and keeps the last
``max_to_keep``. On restore the newest checkpoint that loads AND matches its checksum wins; a
corrupt or truncated one is reported, moved to ``<directory>-corrupt/`` (never deleted) and
skipped, falling back to the previous one; a ``read_only`` checkpointer (eval, plot) leaves it
where it is.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import time
import warnings
from pathlib import Path

import jax
import numpy as np

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import orbax.checkpoint as ocp

# orbax logs every save at INFO through absl; keep the CLI output ours.
logging.getLogger("absl").setLevel(logging.WARNING)


@contextlib.contextmanager
def _quiet_absl(level: int = logging.CRITICAL):
    absl_log = logging.getLogger("absl")
    old = absl_log.level
    absl_log.setLevel(level)
    try:
        yield
    finally:
        absl_log.setLevel(old)


class CheckpointError(RuntimeError):
    """No usable checkpoint where one was expected."""


def state_checksum(state) -> str:
    """SHA-256 over the tree structure and the bytes of every leaf."""
    h = hashlib.sha256(str(jax.tree.structure(state)).encode())
    for leaf in jax.tree.leaves(state):
        a = np.asarray(leaf)
        h.update(str((a.dtype, a.shape)).encode())
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def _remove_partial_saves(directory: Path) -> list[str]:
    """Delete the temporary folders of saves that never completed; their names."""
    import shutil

    found = sorted(directory.glob("*.orbax-checkpoint-tmp*")) if directory.is_dir() else []
    for path in found:
        shutil.rmtree(path, ignore_errors=True)
    return [p.name for p in found]


class Checkpointer:
    """Saves and restores (state, meta) under ``directory``; ``meta`` is a JSON-able dict."""

    def __init__(self, directory: str | Path, max_to_keep: int = 3, read_only: bool = False):
        self.directory = Path(directory).absolute()
        self.read_only = read_only
        if read_only:  # the options orbax itself forces in read-only mode (it warns otherwise)
            options = ocp.CheckpointManagerOptions(read_only=True, save_interval_steps=0,
                                                   max_to_keep=None, create=False)
        else:
            options = ocp.CheckpointManagerOptions(max_to_keep=max_to_keep)
        # a save cut short (the process killed mid-write) leaves orbax's temporary folder;
        # it is never a checkpoint, so a writer removes it (a reader leaves the run as it is)
        self.removed_partial = [] if read_only else _remove_partial_saves(self.directory)
        with _quiet_absl():  # read-only notices, unreadable metadata: restore_latest reports
            self._manager = ocp.CheckpointManager(self.directory, options=options)

    def steps(self) -> list[int]:
        with _quiet_absl():
            return sorted(self._manager.all_steps())

    def save(self, step: int, state, meta: dict) -> None:
        meta = dict(meta, checksum=state_checksum(state))
        self._manager.save(step, args=ocp.args.Composite(
            state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)), force=True)
        self._manager.wait_until_finished()

    def restore_latest(self, template, log=print, sharding=None) -> tuple[object, dict] | None:
        """The newest good checkpoint as (state, meta), ``None`` if there is none at all.

        ``template`` is a state of the same structure (e.g. ``algo.init(key)``); ``sharding``
        places every restored leaf (default: the template's own placement). Raises
        `CheckpointError` if checkpoints exist but none of them is usable.
        """
        steps = self.steps()
        if not steps:
            return None
        if sharding is None:
            abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, template)
        else:  # e.g. replicated over a (multi-process) mesh: every process restores its part
            abstract = jax.tree.map(
                lambda x: jax.ShapeDtypeStruct(np.shape(x), np.asarray(x).dtype,
                                               sharding=sharding), template)
        for step in reversed(steps):
            try:
                with _quiet_absl():  # a failed load is reported below, once, in our words
                    restored = self._manager.restore(step, args=ocp.args.Composite(
                        state=ocp.args.StandardRestore(abstract), meta=ocp.args.JsonRestore()))
                state, meta = restored.state, dict(restored.meta)
                if meta.pop("checksum", None) != state_checksum(state):
                    raise CheckpointError("checksum mismatch")
                return state, meta
            except Exception as e:  # noqa: BLE001 - any failure to load means "corrupt"
                why = f"{type(e).__name__}: {str(e).splitlines()[0][:120] if str(e) else ''}"
                if self.read_only:  # a read-only command never changes the run
                    log(f"warning: checkpoint {self.directory / str(step)} is unusable ({why});"
                        f" left in place; trying an older one")
                    continue
                aside = self._set_aside(step)
                log(f"warning: checkpoint {self.directory / str(step)} is unusable ({why}); "
                    f"moved to {aside}; trying an older one")
        raise CheckpointError(f"no usable checkpoint in {self.directory} (tried steps {steps})")

    def _set_aside(self, step: int) -> Path:
        """Move a bad checkpoint out of the manager's way (kept for inspection, never deleted),
        so the resumed run can write that step again."""
        aside_dir = self.directory.parent / (self.directory.name + "-corrupt")
        aside_dir.mkdir(exist_ok=True)
        target = aside_dir / f"{step}-{time.strftime('%Y%m%d-%H%M%S')}"
        (self.directory / str(step)).rename(target)
        self._manager.reload()
        return target

    def close(self) -> None:
        self._manager.close()
