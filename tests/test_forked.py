"""The forked contract command (`tests/forked.py`) answers as the command started as a new interpreter does: the same
output, exit status and usage errors, the caller's environment as it is at the call, and a timeout that kills it."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from tests.forked import ROOT, run_cli


def interpreter(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "contracts.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize("args", [("rules", "--json"), ("run", "--operations", "["), ("run", "--api-at-root")],
                         ids=["rules", "bad-regex", "usage"])
def test_a_forked_command_says_and_exits_as_a_new_interpreter_does(args):
    forked, started = run_cli(*args, timeout=120), interpreter(*args)
    assert (forked.returncode, forked.stdout, forked.stderr) == (started.returncode, started.stdout, started.stderr)
    assert forked.stdout or forked.stderr


def test_a_forked_command_reads_the_environment_of_the_call(monkeypatch):
    args = ("run", "--base-url", "http://127.0.0.1:9")
    without = run_cli(*args, timeout=120)
    assert without.returncode == 2 and "--token (or MODELUX_TOKEN) is required" in without.stderr, without.stderr
    monkeypatch.setenv("MODELUX_TOKEN", "mlx_mgmt_" + "0" * 40)
    with_token = run_cli(*args, "--rules", "MX-BY-ID", "-q", timeout=120)
    assert "is required" not in with_token.stderr and with_token.returncode == 2, with_token.stdout + with_token.stderr


def test_a_forked_command_past_its_timeout_is_killed():
    started = time.monotonic()
    with pytest.raises(subprocess.TimeoutExpired):
        run_cli("run", "--rules", "MX-BY-ID", timeout=0.5)
    assert time.monotonic() - started < 30
