"""`modelux-mock`: serve the mock (seeded, empty or from a fixtures file) and export worlds."""

from __future__ import annotations

import gc
import ipaddress
import json
import logging
import os
import secrets
import sys
from datetime import datetime

import click

from fixtures.loader import export_world, load_world
from modelux_spec import errata_markdown

from .app import create_app, served_spec
from .clock import UTC, VirtualClock, parse_iso
from .frontend.latency import Latency
from .ids import IdFactory
from .frontend.ratelimit import parse_rate
from .server import SERVERS, PortTaken, claim_port
from .server import serve as serve_app
from .services import MockConfig, Services

TOKEN_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"


def new_token() -> str:
    """A management key nobody can derive: 40 characters from the operating system's CSPRNG."""
    return "mlx_mgmt_" + "".join(secrets.choice(TOKEN_ALPHABET) for _ in range(40))


def parse_clock_option(value: str) -> VirtualClock | None:
    """`real` (None: the system clock) or `virtual[@ISO]`: a clock frozen now or at ISO."""
    mode, _, at = value.partition("@")
    if mode == "real" and not at:
        return None
    if mode != "virtual":
        raise ValueError(f"{value!r}: expected real, virtual or virtual@<ISO 8601 timestamp>")
    try:
        return VirtualClock(parse_iso(at) if at else datetime.now(UTC))
    except (ValueError, OverflowError):
        raise ValueError(f"{at!r} is not an ISO 8601 timestamp (e.g. virtual@2026-01-31T23:00:00Z)")


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def build_services(config: MockConfig, empty: bool) -> Services:
    """The world the options describe: bare org, seeded world, or a fixtures file."""
    if empty:
        return Services.build(config)
    world, org, token = load_world(config)
    return Services.build(config, world=world, org=org, token=token)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="modelux-mock")
def main() -> None:
    """Reference mock of the Modelux Management API."""


def _checked(parse):
    """A click callback that checks a value with the kit's own parser (its message on failure)."""

    def check(ctx, param, value):
        if value is None:
            return None
        try:
            parse(value)
        except ValueError as exc:
            raise click.BadParameter(str(exc))
        return value

    return check


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=4010, show_default=True, type=int)
@click.option("--token", envvar="MODELUX_MOCK_TOKEN",
              help="Management key to accept (env MODELUX_MOCK_TOKEN). Omitted: a random key for this run, printed "
                   "at start (a --fixtures file's own key when booting one).")
@click.option("--seed", default=1, show_default=True, type=int,
              help="Seed of the generated world (its data and ids, never the management key).")
@click.option("--empty", is_flag=True, help="Boot an organization with nothing but its management key.")
@click.option("--fixtures", type=click.Path(exists=True, dir_okay=False), help="Boot from an exported world (JSON).")
@click.option("--anchor", help="Anchor time of the seeded world (ISO 8601; default: the current UTC hour).")
@click.option("--scale", type=click.IntRange(min=0), help="Number of seeded requests (default about 2,500).")
@click.option("--proxy-unreachable", is_flag=True, help="Dry-run and log replay answer 502.")
@click.option("--webhook-max-attempts", default=5, show_default=True, type=click.IntRange(min=1))
@click.option("--webhook-backoff", default=30.0, show_default=True, type=click.FloatRange(min=0),
              help="Seconds before the first retry; doubles on each further attempt.")
@click.option("--webhook-timeout", default=5.0, show_default=True, type=click.FloatRange(min=0.1),
              help="Seconds one delivery attempt may take.")
@click.option("--webhook-allow-host", multiple=True,
              help="Also deliver to this host (by default only loopback hosts receive webhooks).")
@click.option("--cors-origin", multiple=True,
              help="Allowed browser origin, with credentials (the session cookie); repeatable. Default: any origin, "
                   "without credentials.")
@click.option("--latency", callback=_checked(Latency.parse), metavar="MS|MIN-MAX",
              help="Delay every API answer by MS milliseconds, or uniformly between MIN and MAX (at most 60000); "
                   "a request can ask for its own with 'Prefer: delay=MS'.")
@click.option("--faults", "fault_rate", default=0.0, type=click.FloatRange(0, 1), metavar="RATE",
              help="Answer this share of API requests (0..1) with an error the operation documents (401, 404, 409, "
                   "429, 502), drawn from a stream seeded with --seed. Default 0.")
@click.option("--rate-limit", callback=_checked(parse_rate), metavar="COUNT/UNIT",
              help="Limit each management key and session to COUNT requests per UNIT (e.g. 60/min, as the "
                   "product docs say): past it, 429 with Retry-After. Default: no limit.")
@click.option("--state", type=click.Path(dir_okay=False), metavar="FILE",
              help="Boot from FILE if it exists and write the world back to it (atomically, within a second of a "
                   "change, and at shutdown), in the export format; it keeps keys' hashes, never a plaintext key.")
@click.option("--clock", "clock_mode", callback=_checked(parse_clock_option), metavar="real|virtual[@ISO]",
              default="real", show_default=True,
              help="virtual: every organization's clock starts frozen (now, or at ISO) and moves only through "
                   "/__mock/clock.")
@click.option("--max-sandboxes", default=32, show_default=True, type=click.IntRange(0, 1000),
              help="Sandboxes (POST /__mock/sandboxes) that may live at once.")
@click.option("--max-snapshots", default=10, show_default=True, type=click.IntRange(0, 1000),
              help="Snapshots each organization may keep.")
@click.option("--journal-size", default=500, show_default=True, type=click.IntRange(1, 100_000),
              help="Requests the journal keeps per organization (GET /__mock/requests).")
@click.option("--no-validate-responses", is_flag=True, help="Skip validating responses against the spec.")
@click.option("--no-validate", is_flag=True, help="Skip validating requests and responses (for measurements: "
              "invalid input then reaches the handlers).")
@click.option("--threads", default=16, show_default=True, type=click.IntRange(min=1),
              help="Threads for requests that may sleep (a delay from --latency or Prefer), each holding one; other "
                   "requests are answered on one thread under granian, on these threads under waitress.")
@click.option("--server", "server_name", type=click.Choice(SERVERS), default="auto", show_default=True,
              help="HTTP server: granian (fast, forks one worker) or waitress (pure Python); auto picks granian "
                   "where it can run.")
@click.option("-v", "--verbose", is_flag=True, help="Log every request.")
def serve(host, port, token, seed, empty, fixtures, anchor, scale, proxy_unreachable, webhook_max_attempts,
          webhook_backoff, webhook_timeout, webhook_allow_host, cors_origin, latency, fault_rate, rate_limit, state,
          clock_mode, max_sandboxes, max_snapshots, journal_size, no_validate_responses, no_validate, threads,
          server_name, verbose) -> None:
    """Serve the API under /api/manage/v1 (spec at /openapi.json)."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    explicit_token = token is not None
    resumed = bool(state) and os.path.exists(state)
    ignored = [flag for flag, given in (("--empty", empty), ("--fixtures", fixtures)) if given] if resumed else []
    if resumed:  # the state file is the world: what would build another one is ignored
        fixtures, empty = state, False
    if token is None and fixtures is None:
        token = new_token()
    config = MockConfig(
        token=token, seed=seed, validate_responses=not (no_validate_responses or no_validate),
        validate_requests=not no_validate, proxy_unreachable=proxy_unreachable,
        cors_origins=list(cors_origin) or "*", webhook_max_attempts=webhook_max_attempts,
        webhook_backoff=webhook_backoff, webhook_timeout=webhook_timeout, webhook_allow_hosts=tuple(webhook_allow_host),
        world_seed=seed, scale=scale, anchor=anchor, fixtures=fixtures,
        latency=latency, fault_rate=fault_rate, rate_limit=rate_limit, state=state,
        clock=parse_clock_option(clock_mode),
        max_sandboxes=max_sandboxes, max_snapshots=max_snapshots, journal_size=journal_size,
    )
    # The world is built here without its background workers: they start where requests are served
    # (granian forks a worker process that inherits the world).
    config.start_workers = False
    try:  # before the world is built: a taken port is told at once, not after a boot
        claim = claim_port(host, port)
    except PortTaken as exc:
        raise click.ClickException(exc.strerror)
    services = build_services(config, empty=empty)
    if resumed:  # new ids must not repeat those the earlier runs handed out
        services.world.ids = IdFactory()
    app = create_app(config, services)
    url = f"http://{host}:{port}"
    click.echo("Modelux Management API mock")
    click.echo(f"  url:          {url}/api/manage/v1")
    click.echo(f"  spec:         {url}/openapi.json")
    click.echo(f"  organization: {services.org.id} ({services.org.org['name']})")
    if services.token:
        click.echo(f"  token:        {services.token}")
    else:
        click.echo(f"  token:        the key you used with {state} before (it keeps only hashes; --token or "
                   "MODELUX_MOCK_TOKEN names one)")
    if state:
        note = f"resumed{', ' + ' and '.join(ignored) + ' ignored' if ignored else ''}" if resumed else "new"
        click.echo(f"  state:        {state} ({note}; written back as it changes)")
    click.echo(f"  docs:         {url}/docs")
    owner = next((m["user"]["email"] for m in services.org.members.values()
                  if m.get("role") == "owner" and m.get("status") != "invited"), None)
    if owner:
        click.echo(f"  sign in:      curl -c jar -H 'Content-Type: application/json' -d '{{\"email\": \"{owner}\"}}' "
                   f"{url}/__mock/session")
    knobs = [f"latency {latency} ms" if latency else "", f"faults {fault_rate:g}" if fault_rate else "",
             f"rate limit {rate_limit}" if rate_limit else ""]
    if any(knobs):
        click.echo(f"  frontend kit: {', '.join(k for k in knobs if k)}")
    click.echo(f"  try:          curl -H 'Authorization: Bearer {services.token or '<token>'}' "
               f"{url}/api/manage/v1/projects")
    if not is_loopback(host):
        click.echo(click.style(
            f"WARNING: listening on {host}, not loopback: anyone who can reach this machine can reach the mock, and "
            "with its key use it to send webhooks to this machine's loopback ports. "
            + ("Keep the key above private." if explicit_token else "Its key is random for this run; keep it private."),
            fg="red", bold=True), err=True)
    sys.stdout.flush()

    def start() -> None:
        # The world built at boot lives as long as the process: moved out of the collector's sight, a full
        # collection no longer walks it (on a seeded world this takes the p99 latency from ~20 ms to ~6 ms).
        # openapi-core, built in the background, lives as long and is frozen too once built.
        gc.freeze()
        services.start()
        if kit.state_file is not None:
            kit.state_file.start()
        served_spec()[1].warm(then=gc.freeze)

    def stop() -> None:
        services.stop()
        if kit.state_file is not None:
            kit.state_file.stop()  # the last changes, at shutdown

    kit = app.extensions["modelux.frontend"]
    serve_app(app, host=host, port=port, threads=threads, server=server_name, verbose=verbose, on_start=start,
              on_stop=stop, may_wait=kit.may_delay, claim=claim)


@main.command()
@click.option("--seed", default=1, show_default=True, type=int)
@click.option("--anchor", help="Anchor time (ISO 8601; default: the current UTC hour).")
@click.option("--scale", type=click.IntRange(min=0), help="Number of seeded requests.")
@click.option("--token", help="Management key to store in the export (a random one when omitted).")
@click.option("-o", "--output", type=click.File("w"), default="-", help="Where to write the JSON (default stdout).")
def export(seed, anchor, scale, token, output) -> None:
    """Write the seeded world as JSON, for `serve --fixtures`."""
    config = MockConfig(token=token or new_token(), seed=seed, world_seed=seed, scale=scale, anchor=anchor)
    json.dump(export_world(config), output, indent=1, sort_keys=False)
    output.write("\n")


@main.command()
def errata() -> None:
    """Print the errata list (the source of spec/ERRATA.md)."""
    click.echo(errata_markdown(), nl=False)


if __name__ == "__main__":  # pragma: no cover
    main()
