"""The reproduction campaign's parts: (name, script module, arguments always given, arguments
of the committed scale). Data only, so the campaign (`benchmarks.reproduce.__main__`) and the
results table (`benchmarks.reproduce.results`, which names each row's command) share it without
importing each other."""

from __future__ import annotations

# Seeds: a part re-run at a new scale or setting draws fresh seeds (--seed-stream N), so no
# setting was chosen on the seeds that judge it.
FRESH_2027 = ["--seed-stream", "2027"]
FRESH_2028 = ["--seed-stream", "2028"]
PAPER_P = ["--perturbations", "150"]


def low_k_part(env: str, policy: tuple[str, ...] = ("--policy", "linear")) -> tuple:
    """Fig. 5's ES-MAML vs PG-MAML at K 5 on a Brax family at CPU scale (linear; Fig. 4's
    architectures on Swimmer / Walker2d: ``policy`` = ("--policy", "mlp") for H, and with
    ("--hidden", "32,32") for HH).

    Seeds: stream 2028, except the linear forward-backward runs, on fresh stream 2047 (issue
    38, session 19): their claim ("similar or better") is judged by non-inferiority within
    0.1 reward per step, a margin chosen in session 15 with the stream-2028 rows in view, so
    those rows are re-run on seeds nobody had seen, under the committed margin (the 2028 rows
    are in git). They took 107.8 min here in session 19: halfcheetah 34.1, swimmer 39.5,
    walker2d 13.3, ant 20.9 (the last two with tests running beside them)."""
    stream = (["--seed-stream", "2047"]
              if "forward_backward" in env and policy == ("--policy", "linear") else FRESH_2028)
    return (f"pg_vs_es {env} {' '.join(policy[1::2])} K 5", "pg_vs_es",
            ["--env", env, *policy, "-K", "5"],
            ["--seeds", "5", "--steps", "40", "--chunk", "10", "--perturbations", "20",
             "--horizon", "50", *stream])


def finn_k_part(env: str) -> tuple:
    """Fig. A5: ES-MAML vs PG-MAML at the K of Finn et al. (20 for locomotion), otherwise Fig.
    5's CPU scale (linear, P 20, n 20, H 50, 40 meta-steps), 3 seeds (the paper's count),
    fresh seeds. Halfcheetah forward-backward took 22 min here (ES 10, TRPO 6.6, VPG 5.2)."""
    return (f"pg_vs_es {env} linear K 20 (Fig. A5)", "pg_vs_es",
            ["--env", env, "--policy", "linear"],  # the script's default K is 20
            ["--seeds", "3", "--steps", "40", "--chunk", "10", "--perturbations", "20",
             "--horizon", "50", "--seed-stream", "2034"])


# (name, module, arguments always given, arguments of the committed run only: --tiny drops them)
PARTS = [
    # Sec. 4.1 / A.4 at CPU scale (200 steps, P 50, 2 seeds), then the four-corners rows again
    # at the paper's scale (they replace the CPU-scale four-corners rows)
    ("exploration", "exploration", [], []),
    # (issue 38 item 6: 10 seeds where they are cheap, fresh stream 2041, run after the verdict
    # rule of session 15 was committed; the 5-seed stream-2027 rows it replaces are in git)
    ("exploration four_corners paper scale", "exploration",
     ["--only", "four_corners/MC/,four_corners/DPP/5,four_corners/HC/"],
     ["--steps", "1000", "--seeds", "10", *PAPER_P, "--seed-stream", "2041"]),
    # Fig. 2's six circles at the paper's scale (HC with the paper's precision 0.1, and MC);
    # they replace the default run's six-circles rows. Issue 38 item 6 (session 16): 10 seeds,
    # fresh stream 2042, run after the rules they are judged by were committed (the 5-seed
    # stream-2031 rows they replace are in git)
    ("exploration six_circles 10 seeds", "exploration",
     ["--only", "six_circles/MC/20,six_circles/HC/20"],
     ["--steps", "1000", "--seeds", "10", *PAPER_P, "--seed-stream", "2042"]),
    # HC with precision 0.3 (our variant: an illustration, never a verdict), 5 seeds
    ("exploration six_circles HC(0.3) paper scale", "exploration",
     ["--only", "six_circles/HC(0.3)/20"],
     ["--steps", "1000", "--seeds", "5", *PAPER_P, "--seed-stream", "2031"]),
    # the rest of the default run's rows at the paper's scale, fresh seeds: Fig. 1b's
    # penalized four corners (MC and HC; also scored by the unpenalized reward, for the drop),
    # six circles with the authors' initialisation, navigation_2d: 10 seeds, stream 2042
    # (session 16, as above; the 5-seed stream-2033 rows they replace are in git)
    ("exploration penalized / ref-init / navigation_2d 10 seeds", "exploration",
     ["--only", "four_corners_penalized/MC/,four_corners_penalized/HC/,six_circles/HC/ref-init,"
                "six_circles/MC/ref-init,navigation_2d/"],
     ["--steps", "1000", "--seeds", "10", *PAPER_P, "--seed-stream", "2042"]),
    # Fig. 1b's drop for DPP-ES (its rule is committed, claims_es): DPP K 20 on four corners
    # and on the penalized task (the latter also scored by the unpenalized reward), 5 seeds,
    # fresh stream 2046, after the DPP kernel's fix of session 18 (a 10-seed run before it was
    # stopped unfinished after 122 min at 21 GB; 10 seeds of both would take about 96 min
    # here, 5 seeds about 48). The 5-seed stream-2033 penalized DPP row it replaces is in git.
    ("exploration DPP K 20 four corners and penalized", "exploration",
     ["--only", "four_corners/DPP/20,four_corners_penalized/DPP/"],
     ["--steps", "1000", "--seeds", "5", *PAPER_P, "--seed-stream", "2046"]),
    # ES-MAML vs PG-MAML (Fig. 1a, A4, Fig. 4, Fig. 5)
    # (--chunk: the evaluation interval; it also splits the training keys)
    # four corners: issue 38 item 6, 10 seeds on fresh stream 2049 (session 21, committed
    # before the run; TRPO measured at 0.22 s per seed-step over its first 400 steps here, so
    # about an hour; it took 65.4 min; the 5-seed stream-2026 row it replaces is in git)
    ("pg_vs_es four_corners", "pg_vs_es", ["--env", "four_corners"],
     ["--seeds", "10", "--steps", "1000", "--chunk", "25", *PAPER_P, "--seed-stream", "2049"]),
    # biased CartPole: issue 38 item 6, 10 seeds on fresh stream 2048 (session 20, committed
    # before the run; the 5-seed stream-2028 row it replaces is in git; 34.7 min here). The
    # navigation_2d part at 10 seeds on 2048 was stopped unfinished in session 20 (its TRPO
    # still running after 90 min beside the test suite; 2048's ES-MAML half of it was seen,
    # final -44.0), so navigation runs at 10 seeds on fresh stream 2049 (session 21, committed
    # before the run, on a machine running nothing else: 55.7 min; the 5-seed stream-2028
    # row it replaces is in git).
    ("pg_vs_es navigation_2d", "pg_vs_es", ["--env", "navigation_2d"],
     ["--seeds", "10", "--steps", "1000", "--chunk", "50", *PAPER_P, "--seed-stream", "2049"]),
    ("pg_vs_es biased_cartpole", "pg_vs_es", ["--env", "biased_cartpole", "--policy", "linear"],
     ["--seeds", "10", "--steps", "500", "--chunk", "25", *PAPER_P, "--seed-stream", "2048"]),
    # Fig. 5 at low K on the Brax robots, CPU scale (K 5, P 20, n 20, H 50, 40 meta-steps)
    *(low_k_part(f"{robot}_{task}") for robot in ("halfcheetah", "swimmer", "walker2d", "ant")
      for task in ("forward_backward", "goal_velocity")),
    # Fig. 4 on Swimmer / Walker2d: one (H) and two (HH) hidden layers next to the linear runs
    *(low_k_part(env, arch) for env in ("swimmer_forward_backward", "walker2d_forward_backward")
      for arch in (("--policy", "mlp"), ("--policy", "mlp", "--hidden", "32,32"))),
    # Fig. A5 at Finn et al.'s K (20) on the Brax robots (`--only "Fig. A5"` runs them all;
    # the committed runs are those with a CSV in benchmarks/results)
    *(finn_k_part(f"{robot}_{task}") for robot in ("halfcheetah", "swimmer", "walker2d", "ant")
      for task in ("forward_backward", "goal_velocity")),
    # Fig. 4 CartPole L / H / HH at the paper's scale (H 500, P 150). Issue 38 item 6: 10 seeds,
    # stream 2042 (fresh for each policy), each run after the rules were committed: L and H in
    # session 16, HH in session 18 (19 min at 5 seeds; the 5-seed stream-2028 rows are in git)
    ("cartpole L, H 10 seeds", "cartpole", ["--only", "L,H"],
     ["--full", "--seeds", "10", "--seed-stream", "2042"]),
    ("cartpole HH 10 seeds", "cartpole", ["--only", "HH"],
     ["--full", "--seeds", "10", "--seed-stream", "2042"]),
    # A.3.3: ASEBO vs MC at K 5 (four corners; a file of its own)
    ("asebo low K", "operators", ["--only", "es_gradient (MC),asebo (published),asebo "
                                  "(projection)", "--ks", "5"],
     ["--steps", "1000", "--seeds", "5", *PAPER_P, "--seed-stream", "2029", "--out",
      "benchmarks/results/asebo_low_k.csv"]),
    # A.6: sine, ES-MAML's one-step MSE along 10x the older run's iterations, with MAML's
    ("sine curve", "sine", ["--curve-every", "3000", "--ks", "5"],
     ["--es-steps", "30000", "--maml-steps", "30000", "--seeds", "5", "--seed-stream", "2032",
      "--out", "benchmarks/results/sine_curve.csv"]),
    # Fig. 3 / Fig. 5 ES-MAML on halfcheetah at CPU scale
    ("locomotion", "locomotion", ["--only", "halfcheetah"],
     ["--seeds", "5", "--seed-stream", "2030"]),
    # Fig. 3's Ant (L vs H, and HC vs MC on forward-backward), the same CPU scale as
    # halfcheetah's, fresh stream 2043 (session 16; the rule was committed before the run)
    ("locomotion ant", "locomotion", ["--only", "ant"],
     ["--seeds", "5", "--seed-stream", "2043"]),
    # Figs. A1 / A2 on Brax forward-backward, linear, by rollouts (session 16, rules committed
    # before the run, fresh stream 2044): Ant at K 10 (FO-NoHessian vs FO-Hessian, and vs Alg.
    # 3), HalfCheetah at K 5 (Alg. 3 vs FO-NoHessian); budgets of 40 zero-order meta-steps
    # (P 20 x 2 tasks, H 50), 3 seeds (the paper's count; the session's time allowed no more).
    # --scale paper scales the rollout budget with P (the same 40 zero-order meta-steps)
    ("first_order ant (Figs. A1 / A2)", "first_order",
     ["--env", "ant_forward_backward", "-K", "10"],
     ["--rollouts", "38400", "--seeds", "3", "--seed-stream", "2044"]),
    ("first_order halfcheetah K 5 (Fig. A2)", "first_order",
     ["--env", "halfcheetah_forward_backward", "-K", "5", "--only", "zero_order,FO-NoHessian"],
     ["--rollouts", "22400", "--seeds", "3", "--seed-stream", "2044"]),
    # 4.2: compact policies need fewer perturbations (session 16, rule committed before the
    # run, fresh stream 2045)
    ("compact policies", "compact", [], ["--seed-stream", "2045"]),
    # A.3.3 / Fig. A3: MC vs RBO with 25% of the adaptation queries corrupted (Swimmer FB)
    ("robustness", "robustness", [], ["--seeds", "5", "--seed-stream", "2035"]),
]


# `python -m benchmarks.reproduce --scale paper`: every part at the paper's stated settings (A.7:
# 150 perturbations, 3 seeded runs, horizon 200; the families' own horizon on navigation, four
# corners and six circles; 500 on CartPole) with fresh seeds; the meta-step counts stay the
# committed ones (the paper states none). Sine has no stated settings and is left as it is, and
# so is the compact-policies part (its P is the quantity measured).
PAPER_STREAM = "2040"
TAKES_HORIZON = {"pg_vs_es", "cartpole", "locomotion", "robustness", "first_order"}
TAKES_P = {"exploration", "pg_vs_es", "cartpole", "locomotion", "robustness", "operators",
           "first_order"}


def paper_scale_args(module: str, always: list[str], scale: list[str]) -> list[str]:
    """A part's committed arguments (``scale``) moved to the paper's settings."""
    from benchmarks.reproduce.paper import PAPER_P, PAPER_SEEDS, paper_horizon

    if module not in TAKES_P:
        return list(scale)
    args = list(scale)

    def put(flag: str, value: str) -> None:
        if flag in args:
            args[args.index(flag) + 1] = value
        else:
            args.extend([flag, value])

    if module == "first_order":  # a budget in rollouts: scaled with P, same meta-steps
        old_p = int(args[args.index("--perturbations") + 1]) if "--perturbations" in args else 20
        put("--rollouts", str(int(args[args.index("--rollouts") + 1]) * PAPER_P // old_p))
    put("--perturbations", str(PAPER_P))
    seeds = int(args[args.index("--seeds") + 1]) if "--seeds" in args else 0
    put("--seeds", str(max(seeds, PAPER_SEEDS)))
    put("--seed-stream", PAPER_STREAM)
    env = next((always[i + 1] for i, a in enumerate(always) if a == "--env"), "")
    env = env or ("biased_cartpole" if module == "cartpole" else
                  "swimmer_forward_backward" if module == "robustness" else
                  "halfcheetah" if module == "locomotion" else "")
    if module in TAKES_HORIZON and not any(n in env for n in ("navigation", "corners")):
        put("--horizon", str(paper_horizon(env)))
    if "--full" in args:  # cartpole's paper-scale preset: kept, after the flag-value pairs
        args.remove("--full")
        args.append("--full")
    return args
