#!/usr/bin/env python3
"""Runs the same scenario on moto (in-process, Python) and on ami-sim (Rust, --release), and
prints both rates and their ratio.

The scenario: run an instance, create an image of it, terminate the instance, share the image
with another account, copy it to another Region, describe the copy
(benches/moto/scenario.py and benches/src/bin/sim_scenario.rs).

    benches/moto_compare.py                    # 3 rounds, 200 scenarios per world on both
    benches/moto_compare.py --rounds 1 --scenarios 50 --sim-seconds 3

Each round runs moto, then the simulator, so both see the same load on a shared machine; the
figure is the median of the rounds' ratios.

Needs python3 and cargo. moto and boto3 come from the repository's .venv, installed by
scripts/moto-server --install (pinned moto) when missing. Only standard-library modules are
used here, so any python3 runs this driver.
"""

import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_json(cmd, what):
    print(f"== {what}: {' '.join(cmd)}", flush=True)
    done = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    if done.returncode != 0:
        sys.exit(f"{what} failed with exit code {done.returncode}")
    lines = [l for l in done.stdout.splitlines() if l.startswith("{")]
    if not lines:
        sys.exit(f"{what} printed no result line:\n{done.stdout}")
    return json.loads(lines[-1])


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scenarios", type=int, default=200,
                   help="scenarios per fresh world, on both backends (default 200)")
    p.add_argument("--moto-seconds", type=float, default=0.0,
                   help="repeat moto worlds at least this long (default: one world)")
    p.add_argument("--sim-seconds", type=float, default=2.0,
                   help="repeat simulator worlds at least this long (default 2)")
    p.add_argument("--rounds", type=int, default=3,
                   help="rounds of (moto, simulator); the median ratio is reported (default 3)")
    a = p.parse_args()
    if a.scenarios < 1 or a.rounds < 1:
        sys.exit("--scenarios and --rounds must be at least 1")

    venv = os.environ.get("AMI_VENV", os.path.join(ROOT, ".venv"))
    subprocess.run([os.path.join(ROOT, "scripts", "moto-server"), "--install"],
                   cwd=ROOT, check=True)
    subprocess.run(["cargo", "build", "--release", "--quiet", "-p", "ami-benches",
                    "--bin", "sim_scenario"], cwd=ROOT, check=True)
    rounds = []
    for r in range(1, a.rounds + 1):
        moto = run_json([os.path.join(venv, "bin", "python"), "benches/moto/scenario.py",
                         "--scenarios", str(a.scenarios),
                         "--min-seconds", str(a.moto_seconds)],
                        f"round {r}/{a.rounds}: moto, in-process")
        sim = run_json(["cargo", "run", "--release", "--quiet", "-p", "ami-benches",
                        "--bin", "sim_scenario", "--", "--scenarios", str(a.scenarios),
                        "--min-seconds", str(a.sim_seconds), "--seed", str(r)],
                       f"round {r}/{a.rounds}: ami-sim, release build")
        rounds.append((moto, sim, sim["rate"] / moto["rate"]))

    print()
    print(f"{a.scenarios} scenarios per world; scenarios/s:")
    print(f"{'round':<6} {'moto':>10} {'ami-sim':>12} {'ratio':>9}")
    for i, (moto, sim, ratio) in enumerate(rounds, 1):
        print(f"{i:<6} {moto['rate']:>10,.1f} {sim['rate']:>12,.0f} {ratio:>8,.0f}x")
    ratios = sorted(r for _, _, r in rounds)
    median = ratios[len(ratios) // 2] if len(ratios) % 2 else \
        (ratios[len(ratios) // 2 - 1] + ratios[len(ratios) // 2]) / 2
    print(f"median ratio (ami-sim / moto): {median:,.0f}x")


if __name__ == "__main__":
    main()
