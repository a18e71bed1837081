"""`python -m contracts.cli ...` for the tests, in a process of its own that starts without importing anything.

Dozens of tests run the contract command end to end. Started as a new interpreter, each run spends about two
seconds importing schemathesis, hypothesis, pytest and the project before it judges anything: the largest share of
the suite's time that judges nothing. Here each run is a process forked from a server that imported them once
(`multiprocessing`'s forkserver, one per test process). The run itself is what a user's is: its own process, its
own argv, environment (the caller's, as it is at the call), working directory and output files, the command's own
`main`, its exit status as the process's; what it leaves behind goes with it.

The one difference a run can see: pytest would rewrite the asserts of the plugins it loads, and these were
imported before it started, so it would warn that it cannot; the warning is about this harness, not the command,
and is silenced for these runs (`PYTEST_ADDOPTS`). The tests that start the real interpreter and console
entry (`test_contracts_hostile`'s first-request hang, `merge`, `replay`) keep doing so.
"""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROGRAM = "python -m contracts.cli"  # what click calls the command when it is started that way
# What every run imports; the fork server imports it once.
PRELOAD = ["contracts.cli", "contracts.plugin", "contracts.conformance", "schemathesis", "hypothesis", "pytest",
           "mockserver.testing", "tests.forked"]
QUIET = "-W ignore::pytest.PytestAssertRewriteWarning"

_context = multiprocessing.get_context("forkserver")
_context.set_forkserver_preload(PRELOAD)


def run_cli(*args: str, timeout: float, cwd: Path | str = ROOT) -> subprocess.CompletedProcess:
    """What `subprocess.run([sys.executable, "-m", "contracts.cli", *args], cwd=cwd, capture_output=True,
    text=True, timeout=timeout)` gives, from a forked process (TimeoutExpired after killing it, the same way)."""
    command = [sys.executable, "-m", "contracts.cli", *args]
    with tempfile.TemporaryDirectory(prefix="modelux-forked-") as folder:
        out, err = os.path.join(folder, "stdout"), os.path.join(folder, "stderr")
        process = _context.Process(target=_main, args=(list(args), dict(os.environ), str(cwd), out, err),
                                   name="contracts-cli")
        process.start()
        process.join(timeout)
        timed_out = process.exitcode is None
        if timed_out:
            process.kill()
            process.join()
        code = process.exitcode
        stdout, stderr = _read(out), _read(err)
        process.close()
    if timed_out:
        raise subprocess.TimeoutExpired(command, timeout, output=stdout, stderr=stderr)
    return subprocess.CompletedProcess(command, code, stdout, stderr)


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except FileNotFoundError:  # killed before it opened its output
        return ""


def _main(args: list[str], environ: dict[str, str], cwd: str, out: str, err: str) -> None:
    """The forked process: the caller's environment and folder, output to the files, then the command."""
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(environ)
    os.environ["PYTEST_ADDOPTS"] = f"{environ.get('PYTEST_ADDOPTS', '')} {QUIET}".strip()
    for fd, path in ((1, out), (2, err)):
        opened = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(opened, fd)
        os.close(opened)
    from contracts import cli

    sys.argv = [cli.__file__, *args]
    cli.main(args=args, prog_name=PROGRAM)  # exits with the command's status
