"""The run directory: config.json, metrics.csv, checkpoints/, params.npy, summary.json,
events.jsonl (resumes and restarts).

A new run needs an empty (or new) directory; nothing of another run is ever overwritten, and a
run's records only grow (see `History`).
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import json
import time
from pathlib import Path
from typing import Any, NamedTuple

from esmaml_jax.app.build import build
from esmaml_jax.app.config import Config, load_config
from esmaml_jax.app.provenance import provenance

FIELDS = ["step", "seed", "wall_time", "pre_return", "post_return", "test_pre", "test_post",
          "num_nonfinite", "skipped_updates", "env_steps"]
# the columns every metrics.csv has had; a header without them is not one of ours
CORE_FIELDS = ("step", "pre_return", "post_return", "test_pre", "test_post")
# what a reader takes from summary.json: the meta-step and the run's result
SUMMARY_KEYS = ("steps", "final_test_post", "final_test_pre")


def metrics_fields(path: Path) -> list[str]:
    """The columns of ``path`` (a run made before a column existed keeps its own header), or
    FIELDS for a new file."""
    if path.exists():
        with open(path, newline="") as fh:
            header = next(csv.reader(fh), None)
        if header:
            missing = [f for f in CORE_FIELDS if f not in header]
            if missing:
                raise ValueError(f"{path} is corrupt: its header lacks {', '.join(missing)} "
                                 f"(it reads {','.join(header)[:60]!r})")
            return header
    return list(FIELDS)


def prepare(out_dir: Path) -> None:
    """Create ``out_dir``; refuse one that already holds a run (nothing is overwritten)."""
    if out_dir.exists() and not out_dir.is_dir():
        raise NotADirectoryError(f"--out {out_dir} is a file, not a directory")
    if out_dir.exists() and any(out_dir.iterdir()):
        raise FileExistsError(f"output directory {out_dir} is not empty (it holds another run); "
                              f"choose another --out")
    out_dir.mkdir(parents=True, exist_ok=True)


@functools.cache
def _jax_options() -> dict[str, Any]:
    """JAX options that change what runs (read when the record is written, not cached)."""
    import jax

    options = jax.config  # typed without its option attributes
    return {"jax_num_cpu_devices": options.jax_num_cpu_devices,  # type: ignore[attr-defined]
            "jax_enable_x64": bool(options.jax_enable_x64)}  # type: ignore[attr-defined]


def write_config(out_dir: Path, config: Config, checkpoint_every: int | None = None) -> None:
    """config.json: the resolved config, plus a "meta" block it ignores: versions, commit, the
    devices the run used (sharded sums differ from one device's in the last bits) and the
    checkpoint interval (a resume keeps it unless told otherwise)."""
    import jax

    meta = {**provenance(), "jax_options": _jax_options(), "devices": jax.device_count(),
            "processes": jax.process_count(),
            "backend": jax.default_backend(), "checkpoint_every": checkpoint_every}
    data = {**config.to_json(), "meta": meta}
    (out_dir / "config.json").write_text(json.dumps(data, indent=2) + "\n")


def recorded_checkpoint_every(out_dir: Path) -> int | None:
    """The checkpoint interval config.json's meta block records (None: not recorded)."""
    try:
        value = json.loads((out_dir / "config.json").read_text()).get("meta", {}).get(
            "checkpoint_every")
    except (OSError, ValueError, AttributeError):
        return None
    return value if isinstance(value, int) and value >= 1 else None


# the blocks `write_config` always writes: a config.json without one was not written by a run
RUN_BLOCKS = ("env", "policy", "objective", "adaptation", "algorithm", "run")


def read_config(out_dir: Path) -> Config:
    """A run's resolved config; a config.json that lacks a block every run writes (e.g. ``{}``)
    is an error, never filled in with today's defaults."""
    path = out_dir / "config.json"
    if not path.exists():
        raise FileNotFoundError(f"{out_dir} holds no run (no config.json)")
    try:
        data = json.loads(path.read_text())
    except ValueError as e:
        raise ValueError(f"{path} is not valid JSON ({e})") from None
    missing = [b for b in RUN_BLOCKS if not isinstance(data, dict) or b not in data]
    if missing:
        raise ValueError(f"{path} is incomplete (no {', '.join(missing)} block): a run's "
                         f"config.json records every block, so its settings are unknown")
    return load_config(path)


class Metrics(NamedTuple):
    rows: list[dict]
    dropped: dict | None  # a truncated last row left out (``drop_truncated_tail``), else None


def _damage(row: dict, fields: list[str]) -> str | None:
    """What is wrong with one metrics row, or None."""
    if None in row:
        return "more fields than the header"
    missing = [f for f in fields if row.get(f) is None]
    if missing:
        return f"no {', '.join(missing)}"
    for f in fields:
        value = row[f]
        if value != "":
            try:
                float(value)
            except ValueError:
                return f"{f} is {value!r}, not a number"
    return None


def read_metrics(path: Path, drop_truncated_tail: bool = False) -> Metrics:
    """The rows of a metrics.csv, every one checked: a row with a field missing, one too many or
    a value that is not a number is an error naming the file, line and meta-step, and so is a
    last row not ended by a newline (a write cut short). ``drop_truncated_tail``: such a last
    row is left out and returned as ``dropped`` instead (what a resume does)."""
    text = path.read_text()
    fields = metrics_fields(path)
    rows = list(csv.DictReader(text.splitlines()))
    cut = bool(text) and not text.endswith("\n")
    dropped = None
    for i, row in enumerate(rows):
        last = i == len(rows) - 1
        what = _damage(row, fields) or ("the line ends without a newline" if last and cut
                                        else None)
        if what is None:
            continue
        if last and drop_truncated_tail:
            dropped = row
            rows = rows[:-1]
            break
        raise ValueError(f"{path} is truncated or corrupt at line {i + 2} (meta-step "
                         f"{row.get('step')!r}): {what}")
    return Metrics(rows, dropped)


def truncate_metrics(path: Path, done: int) -> dict | None:
    """Keep only the metric rows up to ``done`` (rows after the checkpoint are recomputed). A
    truncated last row (a write cut short) is dropped and returned; any other damage is an
    error."""
    if not path.exists():
        return None
    fields = metrics_fields(path)
    metrics = read_metrics(path, drop_truncated_tail=True)
    rows = [r for r in metrics.rows if int(r["step"]) <= done]
    if done > 0 and not rows:
        raise ValueError(f"{path} records no meta-step although the newest checkpoint is at "
                         f"meta-step {done}: the record is damaged (move it aside to resume "
                         f"with a record that starts there)")
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    return metrics.dropped


def read_summary(out_dir: Path) -> dict | None:
    """The finished run's summary.json, or None when the run has none (it has not finished). A
    file that is not valid JSON or lacks the result is an error naming it: never read as "not
    finished", which would report another number as the run's result."""
    path = Path(out_dir) / "summary.json"
    if not path.exists():
        return None
    try:
        summary = json.loads(path.read_text())
    except ValueError as e:
        raise ValueError(f"{path} is damaged (not valid JSON: {e}); move it aside and the run "
                         f"counts as unfinished") from None
    missing = [k for k in SUMMARY_KEYS if not isinstance(summary, dict) or k not in summary]
    if missing:
        raise ValueError(f"{path} is damaged: it lacks {', '.join(missing)}; move it aside and "
                         f"the run counts as unfinished")
    return summary


def write_summary(out_dir: Path, summary: dict) -> None:
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S")


class History:
    """The append-only record of a run being resumed: its config as made, events.jsonl, the
    summary of a finished run."""

    def __init__(self, out_dir: Path, write: bool = True):
        self.out, self.write = out_dir, write  # write: False on processes other than 0
        self.config = read_config(out_dir)
        path = out_dir / "events.jsonl"
        self.events = ([json.loads(line) for line in path.read_text().splitlines() if line]
                       if path.exists() else [])
        self.changes: list[str] = []
        self._summary = read_summary(out_dir)  # a damaged one stops the resume before it writes

    def latest_num_steps(self, made_with: int) -> int:
        steps = [e["num_steps"] for e in self.events if "num_steps" in e]
        return steps[-1] if steps else made_with

    def check_resume(self, built, force_config: bool):
        """``built`` with the meta-step target the run has reached (it may only grow); other
        changed settings need ``force_config``."""
        old = build(self.config)
        made = old.run.num_steps
        latest = self.latest_num_steps(made)
        requested = built.run.num_steps
        if requested == made and latest != made:  # no --steps given: keep the latest target
            requested = latest
        if requested < latest:
            raise ValueError(f"--steps can only extend {self.out}: it is set to {latest} "
                             f"meta-steps, got {requested}")
        a, b = old.config.to_json(), built.config.to_json()
        changed = sorted(f"{blk}.{k}" for blk in set(a) | set(b)
                         for k in set(a.get(blk, {})) | set(b.get(blk, {}))
                         if a.get(blk, {}).get(k) != b.get(blk, {}).get(k)
                         and f"{blk}.{k}" != "run.num_steps")
        if "run.seeds" in changed:
            raise ValueError(f"{self.out} trains {old.run.seeds} seed(s); its checkpoints hold "
                             f"that many, so run.seeds cannot change on resume (got "
                             f"{built.run.seeds})")
        if changed and not force_config:
            raise ValueError(f"{self.out} was run with other settings ({', '.join(changed)}); "
                             f"pass --force-config to continue it with the new ones")
        self.changes = changed
        run = dataclasses.replace(built.run, num_steps=requested)
        config = built.config.set("run.num_steps", requested)
        return built._replace(run=run, config=config)

    def finished(self) -> bool:
        return self._summary is not None

    def summary(self) -> dict:
        assert self._summary is not None
        return self._summary

    def check_restart(self, restart: bool) -> None:
        """No checkpoint is left: refuse to silently start over a run that has history."""
        metrics = self.out / "metrics.csv"
        rows = list(csv.DictReader(open(metrics))) if metrics.exists() else []
        if not rows:
            return
        if not restart:
            raise ValueError(f"{self.out} has no usable checkpoint left but metrics.csv records "
                             f"{rows[-1]['step']} meta-steps; pass --restart to train it again "
                             f"from meta-step 0 (its metrics.csv is kept under another name)")
        kept = self.out / f"metrics-before-restart-{time.strftime('%Y%m%d-%H%M%S')}.csv"
        if self.write:
            metrics.rename(kept)
        self._append({"event": "restart", "time": _now(), "metrics_kept_as": kept.name})

    def record_dropped_row(self, row: dict) -> None:
        self._append({"event": "metrics_row_dropped", "time": _now(), "row": row,
                      "why": "truncated (the line was cut short)"})

    def record_resume(self, done: int, built) -> None:
        self._append({"event": "resume", "time": _now(), "at_step": done,
                      "num_steps": built.run.num_steps, "changed": self.changes,
                      **provenance()})

    def _append(self, event: dict) -> None:
        if not self.write:
            return
        with open(self.out / "events.jsonl", "a") as fh:
            fh.write(json.dumps(event) + "\n")
        self.events.append(event)
