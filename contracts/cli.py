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
  124  incomplete: the run's deadline (--max-time) left tests not judged, and nothing judged failed or crashed
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Callable

import click

from .html_report import write_html
from .merge import MergeError, load, merge_reports, write_junit
from .options import OPTIONS, Option, pytest_args
from .oracles import ORACLES
from .replaying import ReplayError, replay_failure
from .ruleset import RULES
from .redact import SECRETS, MaskedStream
from .summary import EXIT_CONFORMANT, EXIT_INCOMPLETE, EXIT_SUITE_ERROR, EXIT_USAGE, EXIT_VIOLATIONS


def exit_code(pytest_status: int) -> int:
    """pytest's exit status mapped to ours. The plugin ends a session with 3 when a rule crashed and nothing failed
    (pytest's own 3 is a crash of pytest or a plugin: a suite error too); anything else but 0 and 1 is a usage or
    configuration error. The plugin's 124 (the deadline left tests not judged, nothing failed) is passed on."""
    return {0: EXIT_CONFORMANT, 1: EXIT_VIOLATIONS, 3: EXIT_SUITE_ERROR,
            EXIT_INCOMPLETE: EXIT_INCOMPLETE}.get(int(pytest_status), EXIT_USAGE)


class _Checked(click.ParamType):
    """A click type that reads a value as the option table says (`Option.convert`)."""

    def __init__(self, option: Option):
        self.option = option
        self.name = option.kind.__name__ if isinstance(option.kind, type) else str(option.kind)

    def convert(self, value: Any, param, ctx) -> Any:
        try:
            return self.option.convert(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


def _click_option(option: Option) -> Callable:
    kwargs: dict[str, Any] = {"help": option.help, "envvar": option.envvar, "default": option.default}
    if option.default not in (None, False):
        kwargs["show_default"] = True
    if option.kind == "flag":
        kwargs["is_flag"] = True
    elif option.kind == "choice":
        kwargs["type"] = click.Choice(option.choices)
    elif option.kind == "path":
        kwargs["type"] = click.Path(dir_okay=False)
    elif option.kind is not str:
        kwargs["type"] = _Checked(option)
    return click.option(option.flag, *([option.short] if option.short else []), option.dest, **kwargs)


def _run_options(fn: Callable) -> Callable:
    for option in reversed(OPTIONS):
        fn = _click_option(option)(fn)
    return fn


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Contract suite for the Modelux Management API."""


@main.command(context_settings={"ignore_unknown_options": True})
@_run_options
@click.option("-v", "--verbose", count=True, default=1, help="More output (-vv).")
@click.option("-q", "--quiet", is_flag=True, help="Only the summary and failures.")
@click.argument("pytest_extra", nargs=-1, type=click.UNPROCESSED)
def run(verbose: int, quiet: bool, pytest_extra: tuple[str, ...], **values: Any) -> None:
    """Run the suite; exit 0 when the target is conformant, 1 on any violation, 2 on usage errors, 3 on a suite
    error (a bug in modelux-contracts, not in the target), 124 when --max-time left tests not judged and nothing
    failed. The run's keys never appear in its output (shown as `mlx_mgmt_***`)."""
    import pytest  # the command's own start stays quick for --help and `rules`

    if values["base_url"] and not values["token"]:
        raise click.UsageError("--token (or MODELUX_TOKEN) is required with --base-url")
    if values["api_at_root"] and not values["base_url"]:
        raise click.UsageError("--api-at-root needs --base-url")
    try:
        args = pytest_args(verbose=0 if quiet else verbose, extra=pytest_extra, **values)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    for path in (values["junit"], values["report"]):
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
    SECRETS.add(values["token"], values["other_token"])
    streams = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = MaskedStream(sys.stdout, SECRETS), MaskedStream(sys.stderr, SECRETS)
    try:
        status = pytest.main(args)
    finally:
        sys.stdout, sys.stderr = streams
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


@main.command()
@click.argument("failure_id")
@click.option("--report", "report_path", required=True, type=click.Path(exists=True, dir_okay=False),
              help="The JSON report (--report) holding the failure.")
@click.option("--base-url", envvar="MODELUX_BASE_URL", help="The API root to replay against (default: the run's).")
@click.option("--api-at-root", is_flag=True, help="The API sits at the root of the --base-url origin.")
@click.option("--token", envvar="MODELUX_TOKEN", required=True, help="Management key of the target.")
@click.option("--other-token", envvar="MODELUX_OTHER_TOKEN", help="Key of the second organization, when a step "
              "used it.")
def replay(failure_id: str, report_path: str, base_url: str | None, api_at_root: bool, token: str,
           other_token: str | None) -> None:
    """Re-send one failure's request sequence and say whether it still fails: exit 1 if it does, 0 if not."""
    try:
        still, why = replay_failure(json.loads(Path(report_path).read_text()), failure_id, base_url=base_url,
                                    api_at_root=api_at_root, token=token, other_token=other_token, log=click.echo)
    except ReplayError as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(f"{'STILL FAILS' if still else 'NO LONGER FAILS'}: {why}")
    sys.exit(EXIT_VIOLATIONS if still else EXIT_CONFORMANT)


@main.command()
@click.argument("reports", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--output", "output", required=True, type=click.Path(dir_okay=False),
              help="Where to write the merged JSON report.")
@click.option("--junit", type=click.Path(dir_okay=False), help="Also write the merged JUnit XML here.")
@click.option("--html", type=click.Path(dir_okay=False), help="Also write the merged HTML report here.")
@click.option("--baseline", help="Judge the merged failures against this baseline file (as `run --baseline`).")
@click.option("--baseline-update", is_flag=True, help="Write the merged failures to the --baseline file.")
@click.option("--min-coverage", type=click.FloatRange(0, 100), help="Fail below this spec coverage (percent).")
def merge(reports: tuple[str, ...], output: str, junit: str | None, html: str | None, baseline: str | None,
          baseline_update: bool, min_coverage: float | None) -> None:
    """Combine the JSON reports of a sharded run (--shard K/N) into one verdict; exit as one run would."""
    if baseline_update and not baseline:
        raise click.UsageError("--baseline-update needs --baseline FILE")
    try:
        merged, status = merge_reports([load(path) for path in reports], baseline=baseline,
                                       baseline_update=baseline_update, min_coverage=min_coverage)
    except MergeError as exc:
        raise click.UsageError(str(exc)) from None
    Path(output).parent.mkdir(parents=True, exist_ok=True)
    Path(output).write_text(json.dumps(merged, indent=1))
    if junit:
        write_junit(junit, merged)
    if html:
        write_html(html, merged)
    for line in merged["verdict_lines"]:
        click.echo(line)
    sys.exit(status)


if __name__ == "__main__":  # pragma: no cover
    main()
