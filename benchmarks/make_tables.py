"""Regenerate the result tables of README.md and docs/ from benchmarks/results/* (never typed by
hand).

    python -m benchmarks.make_tables
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from benchmarks._common import layout_note

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def _rows(name: str) -> list[dict]:
    return list(csv.DictReader(open(RESULTS / name)))


def operators_table() -> str:
    rows = _rows("operators.csv")
    r0 = rows[0]
    lines = [f"four_corners, MLP(32), P = {r0['perturbations']} antithetic, {r0['steps']} "
             f"meta-steps, {r0['seeds']} seeds (mean +- std over seeds of the post-adaptation "
             f"test return; the untrained meta-policy scores -400 before and about -330 after "
             f"adaptation). Made by `python -m benchmarks.operators`.", "",
             "| operator | K | queries per adaptation | post-adaptation return | "
             "meta-steps/s (2 seeds) |", "|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['operator']} | {r['K']} | {r['queries_per_adaptation']} | "
                     f"{r['post_mean']} +- {r['post_std_seeds']} | {r['meta_steps_per_s']} |")
    return "\n".join(lines)


def _throughput_rows(r: dict) -> list[str]:
    c = r["config"]
    steps = r["env_steps_per_step"]
    def ms(key):
        t = r[key + "_spread"]
        return f"{t['median'] * 1e3:.2f} ({t['min'] * 1e3:.2f}-{t['max'] * 1e3:.2f})"

    head = (f"{c['env']}, {c['policy']} policy (D = {r['num_params']}), P = "
            f"{c['num_perturbations']} antithetic, T = {c['tasks_per_perturbation']}, K = "
            f"{c['num_queries']}, H = {c['horizon']}: {r['rollouts_per_step']:,} rollouts = "
            f"{steps:,} env steps per meta-step. Median (min-max) of {r['rounds']} interleaved "
            f"rounds after warm-up, load average "
            f"{', '.join(f'{x:.1f}' for x in r['load_average'][0])} before, on "
            f"{', '.join(r['devices'])}, XLA options {r.get('compiler_options', {})}.")
    comp = r.get("compile_s", {})
    lines = [head, "", "| program | ms per meta-step | env steps/s | compile (s) |",
             "|---|---|---|---|"]
    if "minimal_step_s" in r:
        lines.append(f"| minimal fused Alg. 3, plain jnp (`esmaml_jax.app.minimal`) | "
                     f"{ms('minimal_step_s')} | {steps / r['minimal_step_s']:,.0f} | "
                     f"{comp.get('minimal', '')} |")
    batches = " + ".join(f"{b['executions']} x {b['size']:,}" if b["executions"] > 1 else
                         f"{b['size']:,}" for b in r.get("rollout_batches", []))
    lines += [f"| the step's own rollout batches ({batches}), nothing around them (limit) | "
              f"{ms('limit_s')} | "
              f"{steps / r['limit_s']:,.0f} | {r['limit_compile_s']} |",
              f"| the same episodes as one flat batch | {ms('flat_limit_s')} | "
              f"{steps / r['flat_limit_s']:,.0f} | {comp.get('flat_limit', '')} |",
              *([f"| the step without its rollouts (each replaced by a stand-in of no cost) | "
                 f"{ms('outside_s')} | | {comp.get('outside', '')} |"] if "outside_s" in r else []),
              f"| **fused meta-step** (`esmaml_jax.jit(algo.step)`) | {ms('fused_step_s')} | "
              f"{r['fused_env_steps_per_s']:,.0f} | {r['fused_compile_s']} |",
              f"| unfused (one dispatch per perturbation x task) | "
              f"{r['unfused_step_s'] * 1e3:.1f} | {r['unfused_env_steps_per_s']:,.0f} | "
              f"{r['unfused_first_step_s']} (first step) |", ""]
    q = lambda key: (f"{r[key]:.2f} (per round {r[key + '_spread']['min']:.2f}-"
                     f"{r[key + '_spread']['max']:.2f})")
    ratios = [f"fused / limit = {q('ratio_fused_over_limit')}",
              f"fused / flat batch = {q('ratio_fused_over_flat_limit')}"]
    if "ratio_fused_over_minimal" in r:
        ratios.insert(0, f"fused / minimal = {q('ratio_fused_over_minimal')}")
    if "ratio_fused_over_limit_plus_outside" in r:
        ratios.insert(-1, "fused / (limit + the step without rollouts) = "
                          f"{q('ratio_fused_over_limit_plus_outside')}")
    lines.append("Throughput ratios (1 = as fast as the reference): " + "; ".join(ratios)
                 + f"; fused / unfused = {r['ratio_fused_over_unfused']:.1f}x. XLA buffers of the "
                 f"fused program {r['fused_xla_buffer_mb']:.1f} MB.")
    return lines


# A table whose source predates session 13's explicit batches (no layout recorded)
OLD_CODE = (" Measured with the code before session 13 (the jaxpr interpreter); not re-run "
            "since.")


def throughput_table() -> str:
    lines = []
    for name in ("throughput.json", "throughput_mlp.json"):
        if (RESULTS / name).exists():
            lines += _throughput_rows(json.loads((RESULTS / name).read_text())) + [""]
    lines.append("Made by `python -m benchmarks.throughput --no-scaling [--policy mlp]`.")
    ops = RESULTS / "throughput_operators.json"
    if ops.exists():
        rows = json.loads(ops.read_text())
        c = rows[0]["config"]
        lines += ["", f"Every adaptation operator against the bare rollouts of its own batches "
                  f"({c['env']}, {c['policy']}, P {c['num_perturbations']} antithetic, K "
                  f"{c['num_queries']}, H {c['horizon']}; median (min-max) of {c['repeats']} "
                  f"interleaved rounds; `python -m benchmarks.throughput --operators`)."
                  f"{layout_note(rows[0]) if 'flat_layout' in rows[0] else OLD_CODE}", "",
                  "| operator | rollout batches per meta-step | limit (ms) | without rollouts "
                  "(ms) | fused (ms) | fused / limit | (limit + without rollouts) / fused | "
                  "fused compile (s) | load average |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for r in rows:
            t = lambda k, r=r: (f"{r[k]['median'] * 1e3:.2f} ({r[k]['min'] * 1e3:.2f}-"
                                f"{r[k]['max'] * 1e3:.2f})")
            q = r["ratio_fused_over_limit_spread"]
            b = " + ".join(f"{x['executions']} x {x['size']:,}" if x["executions"] > 1 else
                           f"{x['size']:,}" for x in r["rollout_batches"])
            o = r.get("ratio_fused_over_limit_plus_outside_spread")
            lines.append(f"| {r['config']['operator']} | {b} | {t('limit_s_spread')} | "
                         f"{t('outside_s_spread') if o else ''} | "
                         f"{t('fused_step_s_spread')} | {q['median']:.2f} ({q['min']:.2f}-"
                         f"{q['max']:.2f}) | "
                         + (f"{o['median']:.2f} ({o['min']:.2f}-{o['max']:.2f})" if o else "")
                         + f" | {r['fused_compile_s']} | {r['load_average'][0][0]:.1f} |")
    cores = RESULTS / "cores.json"
    if cores.exists():
        c = json.loads(cores.read_text())
        lines += ["", f"Cores (`python -m benchmarks.cores`, {c['cores']} cores, one process "
                  f"per measurement, {c['rounds']} interleaved rounds, load average "
                  f"{', '.join(f'{x:.1f}' for x in c['load_average'][0])} before)."
                  f"{layout_note(c)}", "",
                  "| case | one pinned core (ms) | one device (ms) | one device per core, "
                  "sharded (ms) | sharded / pinned |", "|---|---|---|---|---|"]
        for row in c["rows"]:
            f = lambda m, t=row["step_s"]: (f"{t[m]['median'] * 1e3:.1f} ("
                                            f"{t[m]['min'] * 1e3:.1f}-{t[m]['max'] * 1e3:.1f})")
            lines.append(f"| {row['env']} {row['policy']}, P {row['P']}, K {row['K']}, "
                         f"H {row['H']} | {f('pinned')} | {f('one_device')} | {f('sharded')} | "
                         f"{row['speedup_sharded_over_pinned']:.2f}x |")
    return "\n".join(lines)


def sine_table() -> str:
    rows = _rows("sine.csv")
    lines = ["Mean squared error on 100 test tasks (true curve on 100 points) after 0, 1 and 10 "
             "gradient steps (alpha 0.01) on K points; mean +- std over seeds. Published "
             "one-step MSE for gradient MAML: about 1.13 (K=5), 0.85 (K=10), 0.71 (K=20). "
             "Made by `python -m benchmarks.sine`.", "",
             "| method | K | meta-steps | MSE, 0 steps | 1 step | 10 steps | wall (s) |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['method']} | {r['K']} | {r['meta_steps']} | {r['mse_0_steps']} | "
                     f"{r['mse_1_steps']} +- {r['mse_1_steps_std']} | {r['mse_10_steps']} +- "
                     f"{r['mse_10_steps_std']} | {r['wall_s']} |")
    curve = _rows("sine_curve.csv")
    if curve:
        r0 = curve[0]
        methods = list(dict.fromkeys((r["method"], r["K"]) for r in curve))
        steps = sorted({int(r["meta_steps"]) for r in curve})
        cell = {(r["method"], r["K"], int(r["meta_steps"])): r["mse_1_steps"] for r in curve}
        lines += ["", f"Along a longer run (`python -m benchmarks.sine --curve-every "
                  f"{steps[1]} ...`, {r0['seeds']} seeds from stream {r0['seed_stream']}, the "
                  f"same seeds for both; ES-MAML P {r0['perturbations']} antithetic x "
                  f"{r0['es_tasks']} tasks, sigma {r0['es_sigma']}, Adam {r0['es_lr']}): mean "
                  f"one-step test MSE by meta-step (`benchmarks/results/sine_curve.png`).", "",
                  "| meta-step | " + " | ".join(f"{m}, K = {k}" for m, k in methods) + " |",
                  "|---|" + "---|" * len(methods)]
        lines += [f"| {n} | " + " | ".join(cell.get((m, k, n), "") for m, k in methods) + " |"
                  for n in steps]
    return "\n".join(lines)


def first_order_table() -> str:
    rows = _rows("first_order.csv")
    lines = ["four_corners, the paper's linear policy (D = 6) and an MLP(32) (D = 162), about "
             "600k rollouts each, post-adaptation test return, mean +- std over seeds "
             "(untrained: before column). K_H: directions for the Hessian. Made by "
             "`python -m benchmarks.first_order`.", "",
             "| variant | meta-steps | rollouts | before | post-adaptation return | per seed |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['variant']} | {r['meta_steps']} | {r['rollouts']} | "
                     f"{r['post_before']} | "
                     f"{r['post_after_mean']} +- {r['post_after_std']} | "
                     f"{r['post_after_per_seed']} |")
    return "\n".join(lines)


def pg_throughput_table() -> str:
    r = json.loads((RESULTS / "pg_throughput.json").read_text())
    c = r["config"]
    load = ", ".join(f"{x:.1f}" for x in r["load_average"])
    lines = [f"{c['env']}, {c['policy']}({c['hidden']}) mean network (Gaussian policy, D = "
             f"{r['num_params']}), n = {c['num_tasks']} tasks, K = {c['num_queries']} "
             f"trajectories, H = {c['horizon']}: {r['env_steps_per_step']:,} env steps per "
             f"PG-MAML meta-step; ES-MAML: zero_order, P = {c['es_perturbations']} antithetic, "
             f"K = {c['num_queries']}. {c['rounds']} interleaved rounds after warm-up on "
             f"{', '.join(r['devices'])} (load average {load}). Made by "
             f"`python -m benchmarks.throughput --pg`.", "",
             "| | env steps per meta-step | ms per meta-step, median (min-max) | env steps/s | "
             "of the limit | compile (s) |", "|---|---|---|---|---|---|"]
    names = {"limit": "bare stochastic rollouts (limit)", "es_maml": "ES-MAML (fused)",
             "trpo": "**PG-MAML, TRPO outer (fused)**", "vpg": "PG-MAML, VPG outer (fused)"}
    for key in ("limit", "es_maml", "trpo", "vpg"):
        row = r["rows"][key]
        t = row["step_s"]
        lines.append(f"| {names[key]} | {row['env_steps_per_step']:,} | {t['median'] * 1e3:.1f}"
                     f" ({t['min'] * 1e3:.1f}-{t['max'] * 1e3:.1f}) | "
                     f"{row['env_steps_per_s']:,.0f} | {row['ratio_to_limit']:.3f} | "
                     f"{row['compile_s']} |")
    return "\n".join(lines)


def pg_vs_es_table() -> str:
    """Final post-adaptation test returns of benchmarks.reproduce.pg_vs_es, per family, with
    the scale each column was run at (read from its CSV)."""
    envs_ = [("four_corners", "four corners"), ("navigation", "navigation_2d")]
    data = {e: _rows(f"pg_vs_es_{e}.csv") for e, _ in envs_
            if (RESULTS / f"pg_vs_es_{e}.csv").exists()}
    methods = [("ES-MAML", "", "ES-MAML"), ("PG-MAML TRPO", "", "PG-MAML TRPO, sampled actions"),
               ("PG-MAML TRPO", "_mean", "PG-MAML TRPO, mean action"),
               ("PG-MAML VPG", "", "PG-MAML VPG (Adam 1e-3)")]
    head = [label for e, label in envs_ if e in data]
    lines = ["| | " + " | ".join(head) + " |", "|---|" + "---|" * len(head)]

    from benchmarks.reproduce.results import _pg_meta

    def scale(rows):
        m = _pg_meta(rows)  # the defaults of CSVs written before a column existed live there
        return (f"ES P {m['P']}, PG n {m['n']}, {m['steps']} meta-steps, {m['seeds']} seeds "
                f"(stream {m['stream']})")

    lines.append("| scale | " + " | ".join(scale(data[e]) for e in data) + " |")
    for method, suffix, label in methods:
        cells = []
        for e in data:
            rows = [r for r in data[e] if r["method"] == method]
            last = max(int(r["step"]) for r in rows)
            vals = [float(r[f"test_post{suffix}"]) for r in rows if int(r["step"]) == last]
            seeds = ", ".join(f"{v:.1f}" for v in vals)
            wall = (f"; {float(rows[0]['wall_s']):.0f} s" if not suffix and rows[0].get("wall_s")
                    else "")
            cells.append(f"{sum(vals) / len(vals):.1f} ({seeds}){wall}")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def reproduction_table() -> str:
    from benchmarks.reproduce import report, results

    rows = results.claims()
    adjusted = report.holm_of_rows(rows)
    lines = [report.claims_summary(rows, adjusted)[0], "",
             "The rule, the measured numbers, each row's settings against the paper's and each "
             "script's runtime are in [benchmarks/RESULTS.md](../benchmarks/RESULTS.md) "
             "(`python -m benchmarks.reproduce.results`).", "",
             "| paper claim | verdict | Holm-adjusted p | made by |", "|---|---|---|---|"]
    lines += [f"| {claim} | {v} | {'no test' if a is None else f'{a:.3g}'} | {cmd} |"
              for (claim, _, v, cmd), a in zip(rows, adjusted, strict=True)]
    return "\n".join(lines)


def compile_table() -> str:
    """Compile seconds per family (benchmarks/compile_times.py), tracing + XLA."""
    r = json.loads((RESULTS / "compile_times.json").read_text())
    load = ", ".join(f"{x:.1f}" for x in r["load_average"][0])
    lines = [f"Compile time per family at `esmaml train --env NAME`'s settings (one device, one "
             f"seed, no persistent cache; seconds of tracing + lowering / XLA; load average "
             f"{load} before; `python -m benchmarks.compile_times`).{layout_note(r)}", "",
             "| family | P x T, K, H, policy | bare rollout, one batch (s) | fused meta-step (s) "
             "| evaluate (s) | step / bare |", "|---|---|---|---|---|---|"]
    fmt = lambda c: f"{c['total_s']:.1f} ({c['lower_s']:.1f} / {c['xla_s']:.1f})"
    for row in r["rows"]:
        lines.append(f"| {row['env']} | {row['P']} x {row['T']}, {row['K']}, {row['H']}, "
                     f"{row['policy']} | {fmt(row['bare'])} ({row['bare_batch']:,} rollouts) | "
                     f"{fmt(row['step'])} | {fmt(row['evaluate'])} | {row['step_over_bare']} |")
    return "\n".join(lines)


def step_ab_table(name: str = "step_ab.json") -> str:
    """This checkout's meta-step against another one's (benchmarks/step_ab.py)."""
    r = json.loads((RESULTS / name).read_text())
    load = r["load_1min"]
    lines = [f"Meta-step time of this code (B) against `{Path(r['A']).name}` (A), compiled and "
             f"timed call by call in alternation in ONE process ({r['cpu_count']} cores, "
             f"{', '.join(r['devices'])}, jax {r['jax']}, 1-minute load average "
             f"{load['min']:.1f}-{load['max']:.1f}; `python -m benchmarks.step_ab --other "
             f"CHECKOUT`). B / A is the median of the per-call ratios.", "",
             "| case | A, ms (min-max) | B, ms (min-max) | B / A | compile A / B (s) | "
             "parameters after one step, largest difference |", "|---|---|---|---|---|---|"]
    ms = lambda t: f"{t['median'] * 1:.2f} ({t['min']:.2f}-{t['max']:.2f})"
    for name, c in r["cases"].items():
        what = (f"{c['env']}, {c['policy']}, {c.get('operator', 'es_gradient')}, P {c['p']}, "
                f"K {c['k']}, H {c['horizon']}, {c['calls']} calls")
        lines.append(f"| {name}: {what} | {ms(c['A_step_ms'])} | {ms(c['B_step_ms'])} | "
                     f"{c['B_over_A_median_of_calls']:.2f} | {c['A_compile_s']:.1f} / "
                     f"{c['B_compile_s']:.1f} | {c['max_param_difference_after_one_step']:.2g} |")
    return "\n".join(lines)


def backends_table() -> str:
    """Locomotion physics backends (benchmarks/backends.py)."""
    r = json.loads((RESULTS / "backends.json").read_text())
    load = ", ".join(f"{x:.1f}" for x in r["load_average"][0])
    lines = [f"Physics backends on this machine ({r['cpu_count']} cores, "
             f"{', '.join(r['devices'])}, jax {r['jax']}; {r['rounds']} interleaved rounds in "
             f"one process after a warm-up call each; load average {load} before; `python -m "
             f"benchmarks.backends`). meta_step: the family's `esmaml train` settings (linear, "
             f"P 20 antithetic x T 2, K 10, H 50); rollouts: {r['batch']} bare episodes of H "
             f"{r['horizon']}.", "",
             "| robot (forward-backward) | backend | program | ms per call, median (min-max) | "
             "env steps/s | compile (s) |", "|---|---|---|---|---|---|"]
    for row in r["rows"]:
        t = row["seconds"]
        lines.append(f"| {row['robot']} | {row['backend']} | {row['program']} | "
                     f"{t['median'] * 1e3:,.0f} ({t['min'] * 1e3:,.0f}-{t['max'] * 1e3:,.0f}) | "
                     f"{row['env_steps_per_s']:,.0f} | {row['compile_s']} |")
    for row in r.get("skipped", []):
        lines.append(f"| {row['robot']} | {row['backend']} | both | {row['why']} | - | - |")
    return "\n".join(lines)


def default_run_table() -> str:
    """An excerpt of what `esmaml train` printed (benchmarks/default_run.py)."""
    r = json.loads((RESULTS / "default_run.json").read_text())
    lines = r["lines"]
    bars = [i for i, line in enumerate(lines) if line.lstrip().startswith("[")]
    head = lines[:bars[0] + 1] if bars else lines[:6]
    tail_from = bars[-1] if bars else len(lines) - 4
    excerpt = head + (["..."] if bars and bars[-1] > bars[0] + 1 else []) + lines[tail_from:]
    load = ", ".join(f"{x:.1f}" for x in r["load_average_before"])
    return "\n".join(["```", *excerpt, "```", "",
                      f"(`esmaml train`, recorded by `python -m benchmarks.default_run` on a "
                      f"{r['cpu_count']}-core CPU, load average {load} before: "
                      f"{r['wall_s']} s for the whole process, jax "
                      f"{r['versions']['jax']}; middle progress lines left out.)"])


TABLES = {"operators": operators_table, "throughput": throughput_table, "sine": sine_table,
          "first-order": first_order_table, "reproduction": reproduction_table,
          "pg-throughput": pg_throughput_table, "pg-vs-es": pg_vs_es_table,
          "compile": compile_table, "step-ab": step_ab_table, "backends": backends_table,
          "step-ab-dpp": lambda: step_ab_table("step_ab_dpp.json"),
          "default-run": default_run_table}
SOURCES = {"operators": "operators.csv", "throughput": "throughput.json", "sine": "sine.csv",
           "first-order": "first_order.csv", "reproduction": "exploration.csv",
           "pg-throughput": "pg_throughput.json", "pg-vs-es": "pg_vs_es_four_corners.csv",
           "compile": "compile_times.json", "step-ab": "step_ab.json",
           "step-ab-dpp": "step_ab_dpp.json",
           "backends": "backends.json", "default-run": "default_run.json"}


def cli_reference(width: int = 100) -> str:
    """docs/cli.md: ``esmaml --help`` and every subcommand's ``--help``, as argparse prints them
    at ``width`` columns (regenerated by ``python -m benchmarks.make_tables``; a test checks it
    is current)."""
    import argparse
    import os

    from esmaml_jax.app import cli

    saved = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(width)
    try:
        parser = cli.build_parser()
        subs = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parts = ["# Command line reference", "",
                 "Generated from the parser (`esmaml_jax/app/cli.py`) by `python -m "
                 "benchmarks.make_tables`; tests/test_cli.py checks it is current.", "",
                 "## esmaml", "", "```text", parser.format_help().rstrip(), "```"]
        for name, sub in subs.choices.items():
            parts += ["", f"## esmaml {name}", "", "```text", sub.format_help().rstrip(), "```"]
        return "\n".join(parts) + "\n"
    finally:
        if saved is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = saved


def main() -> None:
    """Every marked table in README.md and docs/*.md, regenerated where its source exists, and
    docs/cli.md from the command line's parser."""
    (ROOT / "docs" / "cli.md").write_text(cli_reference())
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = page.read_text()
        for name, make in TABLES.items():
            begin, end = f"<!-- {name}-table:begin -->", f"<!-- {name}-table:end -->"
            if begin not in text or not (RESULTS / SOURCES[name]).exists():
                continue
            start, stop = text.index(begin) + len(begin), text.index(end)
            text = text[:start] + "\n" + make() + "\n" + text[stop:]
        page.write_text(text)


if __name__ == "__main__":
    main()
