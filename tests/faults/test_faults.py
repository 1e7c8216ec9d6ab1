"""A short run of every nemesis of the fault-injection harness (issue 5).

Each case runs tests/faults/raftkv_faults.py on real servers for a few
seconds of faults and fails unless every check held: a linearizable history,
recovery within the bound after the last heal, every server converged to the
leader's state, no crash or sanitizer report. Seeds are fixed so that a CI
failure replays the same fault schedule (the timing of real processes still
varies); RAFTKV_FAULTS_SEED picks another, RAFTKV_FAULTS_DURATION a longer run.
The summary of each run is printed; a failed run keeps its directory.
"""
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
HARNESS = os.path.join(HERE, "raftkv_faults.py")
DURATION = os.environ.get("RAFTKV_FAULTS_DURATION", "10")

CASES = [  # (nemesis, nodes, extra flags)
    ("kill", 3, []),
    ("kill-leader", 3, []),
    ("pause", 3, []),
    ("partition", 5, []),
    ("partition-leader", 3, []),
    ("bridge", 5, []),
    ("asymmetric", 3, []),
    ("flapping", 3, []),
    ("membership", 3, []),
    ("membership-during", 3, []),
    ("torn", 3, []),
    ("all", 5, ["--combine"]),
]


NETWORK = {"partition", "partition-leader", "bridge", "asymmetric", "flapping", "all"}


def firewall_problem():
    """Why iptables cannot partition servers here, or None."""
    if os.geteuid() != 0:
        return "not root"
    chain = f"RAFTKV-PROBE-{os.getpid()}"
    r = subprocess.run(["iptables", "-w", "-N", chain], capture_output=True, text=True)
    if r.returncode != 0:
        return f"iptables -N failed: {r.stderr.strip()}"
    subprocess.run(["iptables", "-w", "-X", chain], capture_output=True)
    return None


@pytest.mark.parametrize("nemesis,nodes,extra", CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_nemesis(nemesis, nodes, extra, tmp_path):
    if nemesis in NETWORK:
        problem = firewall_problem()
        if problem:
            pytest.skip(f"partitions need iptables as root: {problem}")
    seed = os.environ.get("RAFTKV_FAULTS_SEED", str(1000 + CASES.index((nemesis, nodes, extra))))
    cmd = [sys.executable, HARNESS, "--nemesis", nemesis, "--nodes", str(nodes), "--duration",
           DURATION, "--seed", seed, "--out", str(tmp_path / "run")] + extra
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    print(r.stdout)
    assert r.returncode == 0, f"{' '.join(cmd)}\n{r.stdout}\n{r.stderr[-4000:]}"
