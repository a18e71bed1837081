"""`modelux-contracts`: run the contract suite against any implementation of the Management API.

    modelux-contracts run --base-url https://staging.example.com --token mlx_mgmt_… --junit reports/contracts.xml
    modelux-contracts run                      # against the embedded mock, in process
    modelux-contracts rules                    # list the domain rules and their sources

Exit status:
    0  conformant: everything selected was judged and nothing failed
    1  not conformant: the target broke a rule or a check (or rejected the token); violations win over suite errors
    2  usage or configuration error (bad options, unreachable target)
    3  suite error: a rule of modelux-contracts crashed (a bug in the suite, not in the target) and the target
       broke nothing that was judged, so the run can say neither "conformant" nor "not conformant"
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from .oracles import ORACLES
from .ruleset import RULES
from .summary import EXIT_CONFORMANT, EXIT_SUITE_ERROR, EXIT_USAGE, EXIT_VIOLATIONS

SUITE_DIR = Path(__file__).resolve().parent / "suite"
PYTEST_INI = SUITE_DIR / "pytest.ini"


def pytest_args(*, base_url: str | None, token: str | None, other_token: str | None = None, api_at_root: bool = False,
                junit: str | None, workers: str | None,
                max_examples: int | None, seed: int | None, webhook_host: str | None, webhook_port: int | None,
                webhook_wait: float | None, strict_spec: bool, staging: bool, rate: float | None, profile: str,
                rules: str | None, phases: str | None, report: str | None, verbose: int,
                extra: tuple[str, ...] = ()) -> list[str]:
    """The pytest command line for these options (also used by the proof tests and the benchmark)."""
    args = ["-c", str(PYTEST_INI), "--rootdir", str(SUITE_DIR), "-p", "contracts.plugin", str(SUITE_DIR),
            "--tb=short", "-W", "ignore::DeprecationWarning", "-p", "no:faker", "-p", "no:anyio"]
    args.append("-v" if verbose else "-q")
    if verbose > 1:
        args.append("-v")
    if base_url:
        args += ["--base-url", base_url]
    if api_at_root:
        args.append("--api-at-root")
    if token:
        args += ["--token", token]
    if other_token:
        args += ["--other-token", other_token]
    if junit:
        args += ["--junitxml", junit, "-o", "junit_family=xunit2", "-o", "junit_suite_name=modelux-contracts"]
    if workers and workers not in ("0", "1"):
        count = str(os.cpu_count() or 2) if workers == "auto" else workers
        args += ["-n", count, "--dist", "loadgroup"]
    if max_examples:
        args += ["--max-examples", str(max_examples)]
    if seed is not None:
        args += ["--contract-seed", str(seed)]
    if webhook_host:
        args += ["--webhook-host", webhook_host]
    if webhook_port:
        args += ["--webhook-port", str(webhook_port)]
    if webhook_wait is not None:
        args += ["--webhook-wait", str(webhook_wait)]
    if strict_spec:
        args.append("--strict-spec")
    if staging:
        args.append("--staging")
    if rate is not None:
        args += ["--rate", str(rate)]
    if profile != "default":
        args += ["--profile", profile]
    if rules:
        args += ["--rules", rules]
    if phases:
        args += ["--phases", phases]
    if report:
        args += ["--contract-report", report]
    return args + list(extra)


def exit_code(pytest_status: int) -> int:
    """pytest's exit status mapped to ours. The plugin ends a session with 3 when a rule crashed and nothing failed
    (pytest's own 3 is a crash of pytest or a plugin: a suite error too); anything else but 0 and 1 is a usage or
    configuration error."""
    return {0: EXIT_CONFORMANT, 1: EXIT_VIOLATIONS, 3: EXIT_SUITE_ERROR}.get(int(pytest_status), EXIT_USAGE)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Contract suite for the Modelux Management API."""


@main.command(context_settings={"ignore_unknown_options": True})
@click.option("--base-url", envvar="MODELUX_BASE_URL", help="The API root: a URL with a path is used as given, a "
              "bare origin gets the spec's /api/manage/v1. Default: the embedded mock, in process.")
@click.option("--api-at-root", is_flag=True, help="The API sits at the root of the --base-url origin (nothing is "
              "appended).")
@click.option("--token", envvar="MODELUX_TOKEN", help="Management key of the target (env MODELUX_TOKEN).")
@click.option("--other-token", envvar="MODELUX_OTHER_TOKEN", help="Management key of a second organization on "
              "the same target: enables the organization-isolation rule.")
@click.option("--junit", type=click.Path(dir_okay=False), help="Write a JUnit XML report (one test per operation "
              "and per rule).")
@click.option("--workers", "-w", default="1", show_default=True, help="Parallel workers (pytest-xdist); a number "
              "or 'auto'.")
@click.option("--max-examples", type=click.IntRange(min=1), help="Examples per operation and stateful scenarios "
              "(default 100; 5 in staging mode).")
@click.option("--seed", type=int, help="Seed, to reproduce a run.")
@click.option("--webhook-host", help="Host name the target uses to reach the built-in webhook receiver.")
@click.option("--webhook-port", type=click.IntRange(min=0, max=65535), help="Port of the webhook receiver.")
@click.option("--webhook-wait", type=click.FloatRange(min=1), help="Seconds to wait for a delivery or a retry "
              "from a remote target (default 120).")
@click.option("--strict-spec", is_flag=True, help="Judge against the pristine upstream spec (spec gaps fail).")
@click.option("--staging", is_flag=True, help="Paced, never deletes or revokes what it did not create, cleans up.")
@click.option("--rate", type=click.FloatRange(min=0.1), help="Requests per minute (default: unpaced; 60 with "
              "--staging).")
@click.option("--profile", type=click.Choice(["default", "strict"]), default="default", show_default=True,
              help="strict: also check this project's own decisions.")
@click.option("--rules", help="Only these rule codes, comma-separated (skips the schemathesis phases).")
@click.option("--phases", help="Schemathesis phases: examples,coverage,fuzzing,stateful (default: all).")
@click.option("--report", type=click.Path(dir_okay=False), help="Write the verdict as JSON.")
@click.option("-v", "--verbose", count=True, default=1, help="More output (-vv).")
@click.option("-q", "--quiet", is_flag=True, help="Only the summary and failures.")
@click.argument("pytest_extra", nargs=-1, type=click.UNPROCESSED)
def run(base_url, token, api_at_root, other_token, junit, workers, max_examples, seed, webhook_host, webhook_port, webhook_wait, strict_spec,
        staging, rate, profile, rules, phases, report, verbose, quiet, pytest_extra) -> None:
    """Run the suite; exit 0 when the target is conformant, 1 on any violation, 2 on usage errors, 3 on a suite
    error (a bug in modelux-contracts, not in the target)."""
    import pytest  # the command's own start stays quick for --help and `rules`

    if base_url and not token:
        raise click.UsageError("--token (or MODELUX_TOKEN) is required with --base-url")
    if workers != "auto" and not workers.isdigit():
        raise click.UsageError("--workers takes a number or 'auto'")
    if junit:
        Path(junit).parent.mkdir(parents=True, exist_ok=True)
    if api_at_root and not base_url:
        raise click.UsageError("--api-at-root needs --base-url")
    args = pytest_args(base_url=base_url, token=token, other_token=other_token, api_at_root=api_at_root, junit=junit, workers=workers, max_examples=max_examples,
                       seed=seed, webhook_host=webhook_host, webhook_port=webhook_port, webhook_wait=webhook_wait,
                       strict_spec=strict_spec, staging=staging, rate=rate, profile=profile, rules=rules,
                       phases=phases, report=report, verbose=0 if quiet else verbose, extra=pytest_extra)
    status = pytest.main(args)
    sys.exit(exit_code(status))


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable.")
def rules(as_json: bool) -> None:
    """List the domain rules: code, source (spec / docs / ours) and what each checks."""
    if as_json:
        click.echo(json.dumps([{"code": r.code, "source": r.source, "title": r.title, "ref": r.ref,
                                "needs": sorted(r.needs), "staging": r.staging, "function": r.name,
                                "oracle": ORACLES[r.code].name if r.code in ORACLES else None}
                               for r in RULES.values()], indent=1))
        return
    for r in RULES.values():
        extra = " (strict profile only)" if r.strict_only else ""
        if r.code in ORACLES:
            extra += " — generic oracle: judges every exchange of the phases; this rule probes it"
        click.echo(f"{r.code:30} [{r.source}] {r.title}{extra}")


if __name__ == "__main__":  # pragma: no cover
    main()
