"""The `tocsin` command line."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from tocsin_local.client import STATE_FILE, ApiClient, ApiError


def _client(ctx: click.Context) -> ApiClient:
    try:
        return ApiClient.from_environment(ctx.obj.get("url"), ctx.obj.get("token"))
    except ApiError as exc:
        raise click.ClickException(str(exc)) from None


def _call(fn: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return fn(*args, **kwargs)
    except ApiError as exc:
        raise click.ClickException(str(exc)) from None


def _echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, sort_keys=True))


def _parse_time(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO time like 2026-11-27T09:00Z") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _window(start: str | None, end: str | None, duration: str | None) -> tuple[datetime, datetime]:
    """--start (default now) and --end or --duration."""
    from tocsin.domain.durations import parse_duration

    starts = _parse_time(start) if start else datetime.now(UTC)
    if end:
        return starts, _parse_time(end)
    if duration:
        try:
            delta = parse_duration(duration)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--duration") from None
        if not isinstance(delta, timedelta):
            raise click.BadParameter("use e.g. 30m, 2h, 1d", param_hint="--duration")
        return starts, starts + delta
    raise click.UsageError("give --end or --duration")


@click.group()
@click.option("--url", envvar="TOCSIN_URL", help="API base URL (default: the running local mode)")
@click.option("--token", envvar="TOCSIN_TOKEN", help="API token")
@click.pass_context
def main(ctx: click.Context, url: str | None, token: str | None) -> None:
    """Tocsin: incident response in your own AWS account."""
    ctx.ensure_object(dict)
    ctx.obj.update(url=url, token=token)


# --- local mode -----------------------------------------------------------------------------------
@main.group()
def local() -> None:
    """The embedded local mode."""


@local.command("up")
@click.option(
    "--port", type=int, default=8765, show_default=True, help="gateway port on 127.0.0.1 (0: any)"
)
@click.option(
    "--sweep-interval", type=float, default=5.0, show_default=True, help="seconds between sweeps"
)
@click.option("--json", "as_json", is_flag=True, help="print one JSON line when ready")
@click.pass_context
def local_up(ctx: click.Context, port: int, sweep_interval: float, as_json: bool) -> None:
    """Run Tocsin on 127.0.0.1 until interrupted (TOCSIN_TOKEN: the token, else generated).
    Queues are consumed on a background thread, as on AWS (TOCSIN_LOCAL_ASYNC_QUEUES=0: inside
    SendMessage)."""
    from tocsin_local.patches import async_queues_from_env
    from tocsin_local.runtime import LocalTocsin

    runtime = LocalTocsin(
        port=port,
        token=ctx.obj.get("token"),
        sweep_interval=sweep_interval,
        async_queues=async_queues_from_env(default=True),
    ).start()
    state = {
        "url": runtime.base_url,
        "token": runtime.token,
        "aws_endpoint": os.environ["AWS_ENDPOINT_URL"],
        "pid": os.getpid(),
    }
    STATE_FILE.parent.mkdir(exist_ok=True)
    STATE_FILE.write_text(json.dumps(state))
    STATE_FILE.chmod(0o600)
    if as_json:
        click.echo(json.dumps({"ready": True, **state}), nl=True)
    else:
        click.echo(f"Tocsin local mode ready at {runtime.base_url}")
        click.echo(f"  token: {runtime.token}")
        click.echo(f"  try:   curl -X POST {runtime.base_url}/v1/alerts/generic \\")
        click.echo(
            f"           -H 'Authorization: Bearer {runtime.token}' -d '{{\"title\": \"Disk full\"}}'"
        )
        click.echo("  Ctrl-C to stop")
    sys.stdout.flush()
    stop = {"now": False}

    def _stop(*_: object) -> None:
        stop["now"] = True

    signal.signal(signal.SIGTERM, _stop)
    try:
        while not stop["now"]:
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        runtime.stop()
        if STATE_FILE.exists() and json.loads(STATE_FILE.read_text()).get("pid") == os.getpid():
            STATE_FILE.unlink()


@main.command()
@click.option("--port", type=int, default=0, help="gateway port (default: any free port)")
def demo(port: int) -> None:
    """Start the local mode, send a realistic burst of alerts, and show what happened."""
    from tocsin_local.demo import run_demo

    sys.exit(run_demo(port))


# --- configuration --------------------------------------------------------------------------------
@main.group()
def config() -> None:
    """Configuration as code."""


@config.command("validate")
@click.argument(
    "directory", type=click.Path(exists=True, file_okay=False, path_type=Path), default="config"
)
def config_validate(directory: Path) -> None:
    """Validate the configuration files; errors are printed as file:line: message."""
    from tocsin.config_loader import load_config
    from tocsin.domain.errors import ConfigError

    try:
        cfg = load_config(directory)
    except ConfigError as exc:
        for problem in exc.problems:
            click.echo(problem, err=True)
        raise SystemExit(1) from None
    from tocsin.runbook_loader import load_runbooks, runbooks_dir

    runbooks, problems = load_runbooks(cfg, runbooks_dir(cfg, directory))
    for problem in problems:
        click.echo(problem, err=True)
    if problems:
        raise SystemExit(1)
    click.echo(
        f"{directory}: OK — {len(cfg.severities)} severities, {len(cfg.severity_rules)} severity rules, "
        f"{len(cfg.services)} services, {len(cfg.grouping)} grouping rules, "
        f"{len(cfg.maintenance_windows)} maintenance windows, {len(runbooks)} runbooks"
    )


@main.command()
def openapi() -> None:
    """Print the OpenAPI 3.1 document of the HTTP API."""
    from tocsin.openapi import render

    click.echo(render(), nl=False)


# --- incidents ------------------------------------------------------------------------------------
@main.group()
def incidents() -> None:
    """Incidents."""


@incidents.command("list")
@click.option("--status", help="status, comma list, or `open`")
@click.option("--severity")
@click.option("--service")
@click.option("--limit", type=int, default=50)
@click.pass_context
def incidents_list(
    ctx: click.Context, status: str | None, severity: str | None, service: str | None, limit: int
) -> None:
    """List incidents, newest first."""
    params = {
        k: v
        for k, v in {
            "status": status,
            "severity": severity,
            "service": service,
            "limit": limit,
        }.items()
        if v
    }
    page = _call(_client(ctx).request, "GET", "/v1/incidents", params=params)
    for inc in page["items"]:
        click.echo(
            f"{inc['ref']:<8} {inc['severity']:<5} {inc['status']:<13} alerts={inc['alert_count']:<3} "
            f"{inc.get('service') or '-':<12} {inc['title']}"
        )
    if not page["items"]:
        click.echo("no incidents")


@incidents.command("show")
@click.argument("incident_id")
@click.pass_context
def incidents_show(ctx: click.Context, incident_id: str) -> None:
    """One incident with its timeline."""
    client = _client(ctx)
    _echo_json(_call(client.request, "GET", f"/v1/incidents/{incident_id}"))
    timeline = _call(client.request, "GET", f"/v1/incidents/{incident_id}/timeline")
    for event in timeline["items"]:
        click.echo(
            f"{event['at']}  {event['kind']:<18} {event['actor']['kind']}:{event['actor']['id']}"
        )
    response = _call(client.request, "GET", f"/v1/incidents/{incident_id}/response")
    click.echo("\nResponse steps:")
    for step in response["steps"]:
        why = step.get("error") or (step.get("detail") or {}).get("reason") or ""
        click.echo(
            f"  {step['step']:<48} {step['state']:<8} {step.get('provider', '')} {why}".rstrip()
        )
    due = ", ".join(f"{k} {v}" for k, v in response["sla"]["due"].items())
    click.echo(f"SLA due: {due or '-'}; missed: {', '.join(response['sla']['missed']) or 'none'}")


@incidents.command("update")
@click.argument("incident_id")
@click.argument("text")
@click.option("--by", "posted_by", default=None, help="who posts it (on the timeline)")
@click.pass_context
def incidents_update(
    ctx: click.Context, incident_id: str, text: str, posted_by: str | None
) -> None:
    """Post a stakeholder update (incident channel and stakeholder channels)."""
    body = {"text": text, "posted_by": posted_by}
    result = _call(_client(ctx).request, "POST", f"/v1/incidents/{incident_id}/updates", json=body)
    click.echo(f"recorded at {result['event']['at']}; delivery {result['delivery']['state']}")


@incidents.command("ack")
@click.argument("incident_id")
@click.option("--by", default=None, help="who acknowledges (on the timeline)")
@click.pass_context
def incidents_ack(ctx: click.Context, incident_id: str, by: str | None) -> None:
    """Acknowledge: stop paging, and move a triggered incident to acknowledged."""
    result = _call(
        _client(ctx).request, "POST", f"/v1/incidents/{incident_id}/acknowledge", json={"by": by}
    )
    ended = ", ".join(result["escalations_ended"]) or "none running"
    click.echo(f"acknowledged by {result['by']}; escalations ended: {ended}")


@incidents.command("roles")
@click.argument("incident_id")
@click.option("--set", "assign", help="ROLE=PERSON to hand a role over (PERSON `-`: nobody)")
@click.option("--by", default=None, help="who makes the change (on the timeline)")
@click.pass_context
def incidents_roles(
    ctx: click.Context, incident_id: str, assign: str | None, by: str | None
) -> None:
    """Show the incident's roles, or hand one over."""
    client = _client(ctx)
    if assign:
        role, sep, person = assign.partition("=")
        if not sep:
            raise click.BadParameter("use ROLE=PERSON", param_hint="--set")
        body = {"role": role, "person": None if person in {"", "-"} else person, "changed_by": by}
        _call(client.request, "PATCH", f"/v1/incidents/{incident_id}/roles", json=body)
    for role in _call(client.request, "GET", f"/v1/incidents/{incident_id}/roles")["items"]:
        holder = role["holder"] or "(open)"
        click.echo(f"{role['name']:<22} {holder:<12} {role['since'] or ''}".rstrip())


# --- on call --------------------------------------------------------------------------------------
@main.group()
def oncall() -> None:
    """On-call schedules: who is on call, overrides, calendar feeds."""


@oncall.command("list")
@click.pass_context
def oncall_list(ctx: click.Context) -> None:
    """Every schedule and who is on call now."""
    for item in _call(_client(ctx).request, "GET", "/v1/schedules")["items"]:
        click.echo(f"{item['name']:<28} {item['on_call'] or '(nobody)':<12} {item['timezone']}")


@oncall.command("show")
@click.argument("schedule")
@click.option("--at", "at", help="ISO time (default: now)")
@click.option("--days", type=click.IntRange(0, 90), default=7, help="shifts for N days")
@click.pass_context
def oncall_show(ctx: click.Context, schedule: str, at: str | None, days: int) -> None:
    """Who is on call in SCHEDULE (at a time), and the shifts of the next N days."""
    params: dict[str, Any] = {"days": days}
    if at:
        params["at"] = _parse_time(at).isoformat()
    found = _call(_client(ctx).request, "GET", f"/v1/schedules/{schedule}/oncall", params=params)
    click.echo(f"{schedule} at {found['at']}: {found['on_call'] or 'nobody is on call'}")
    for shift in found["shifts"]:
        click.echo(
            f"  {shift['start']}  ->  {shift['end']}  {shift['person']:<10} ({shift['source']})"
        )


@oncall.command("override")
@click.argument("schedule")
@click.argument("person")
@click.option("--start", help="ISO time (default: now)")
@click.option("--end", help="ISO time")
@click.option("--duration", help="instead of --end: 30m, 2h, 1d")
@click.option("--reason", default="")
@click.option("--by", default=None, help="who makes the override")
@click.pass_context
def oncall_override(
    ctx: click.Context,
    schedule: str,
    person: str,
    start: str | None,
    end: str | None,
    duration: str | None,
    reason: str,
    by: str | None,
) -> None:
    """Put PERSON on call in SCHEDULE from --start to --end (or for --duration)."""
    starts, ends = _window(start, end, duration)
    body = {
        "person": person,
        "start": starts.isoformat(),
        "end": ends.isoformat(),
        "reason": reason,
        "created_by": by,
    }
    _echo_json(
        _call(_client(ctx).request, "POST", f"/v1/schedules/{schedule}/overrides", json=body)
    )


@oncall.command("calendar")
@click.argument("schedule")
@click.pass_context
def oncall_calendar(ctx: click.Context, schedule: str) -> None:
    """The secret iCal URL of SCHEDULE (subscribe to it in a calendar app)."""
    click.echo(_call(_client(ctx).request, "GET", f"/v1/schedules/{schedule}/calendar")["url"])


# --- quarantine -----------------------------------------------------------------------------------
@main.group()
def quarantine() -> None:
    """Payloads that could not be read (kept so they can be replayed after a fix)."""


@quarantine.command("list")
@click.option("--limit", type=int, default=50)
@click.pass_context
def quarantine_list(ctx: click.Context, limit: int) -> None:
    page = _call(_client(ctx).request, "GET", "/v1/quarantine", params={"limit": limit})
    for item in page["items"]:
        click.echo(
            f"{item['id']}  {item['received_at']}  {item['source']:<12} {item['status_code']}  {item['error']}"
        )
    if not page["items"]:
        click.echo("quarantine is empty")


@quarantine.command("show")
@click.argument("quarantine_id")
@click.pass_context
def quarantine_show(ctx: click.Context, quarantine_id: str) -> None:
    _echo_json(_call(_client(ctx).request, "GET", f"/v1/quarantine/{quarantine_id}"))


@quarantine.command("replay")
@click.argument("quarantine_id")
@click.pass_context
def quarantine_replay(ctx: click.Context, quarantine_id: str) -> None:
    """Feed a quarantined payload to intake again (e.g. after a parser fix)."""
    _echo_json(_call(_client(ctx).request, "POST", f"/v1/quarantine/{quarantine_id}/replay"))


# --- maintenance ----------------------------------------------------------------------------------
@main.group()
def maintenance() -> None:
    """Maintenance windows: matching alerts are recorded but open no incident."""


@maintenance.command("add")
@click.argument("window_id")
@click.option("--service", "services", multiple=True, help="service name (repeatable)")
@click.option("--label", "labels", multiple=True, help="label=regex (repeatable)")
@click.option("--start", help="ISO time (default: now)")
@click.option("--end", help="ISO time")
@click.option("--duration", help="instead of --end: 30m, 2h, 1d")
@click.option("--reason", default="")
@click.pass_context
def maintenance_add(
    ctx: click.Context,
    window_id: str,
    services: tuple[str, ...],
    labels: tuple[str, ...],
    start: str | None,
    end: str | None,
    duration: str | None,
    reason: str,
) -> None:
    starts, ends = _window(start, end, duration)
    body = {
        "id": window_id,
        "starts_at": starts.isoformat(),
        "ends_at": ends.isoformat(),
        "services": list(services),
        "labels": dict(label.split("=", 1) for label in labels),
        "reason": reason,
    }
    _echo_json(_call(_client(ctx).request, "POST", "/v1/maintenance-windows", json=body))


@maintenance.command("list")
@click.pass_context
def maintenance_list(ctx: click.Context) -> None:
    _echo_json(_call(_client(ctx).request, "GET", "/v1/maintenance-windows"))


@maintenance.command("remove")
@click.argument("window_id")
@click.pass_context
def maintenance_remove(ctx: click.Context, window_id: str) -> None:
    _call(_client(ctx).request, "DELETE", f"/v1/maintenance-windows/{window_id}")
    click.echo(f"removed {window_id}")


# --- tokens ---------------------------------------------------------------------------------------
@main.group()
def tokens() -> None:
    """Bearer tokens (stored as SHA-256 digests in the table; uses your AWS credentials)."""


@tokens.command("create")
@click.argument("name")
@click.option("--table", envvar="TOCSIN_TABLE", required=True, help="the stack's TableName output")
def tokens_create(name: str, table: str) -> None:
    """Create a token for NAME (`api`, or an integration: alertmanager, grafana, ...). Printed once."""
    from tocsin.dal.tokens import TokenStore, new_token

    token = new_token()
    TokenStore(table).add(name, token)
    click.echo(token)


@tokens.command("revoke")
@click.argument("name")
@click.option("--table", envvar="TOCSIN_TABLE", required=True)
def tokens_revoke(name: str, table: str) -> None:
    """Revoke every token of NAME (takes effect within a minute: functions cache digests)."""
    from tocsin.dal.tokens import TokenStore

    TokenStore(table).revoke_all(name)
    click.echo(f"revoked all tokens of {name}")


# --- slack ----------------------------------------------------------------------------------------
@main.group()
def slack() -> None:
    """The Slack app."""


@slack.command("manifest")
@click.option(
    "--url",
    "base_url",
    help="the API's public base URL (the stack's ApiUrl output; default: tocsin --url)",
)
@click.option("--name", default="Tocsin", show_default=True, help="the app's name in Slack")
@click.pass_context
def slack_manifest(ctx: click.Context, base_url: str | None, name: str) -> None:
    """Print the Slack app manifest: paste it in api.slack.com/apps → Create New App → From a
    manifest. Request URLs, bot events and scopes come from the code."""
    from tocsin.integrations.slack_manifest import manifest

    base = base_url or ctx.obj.get("url")
    if not base:
        raise click.UsageError("give --url (the stack's ApiUrl output, e.g. https://…/prod)")
    if not base.startswith(("https://", "http://")):
        raise click.BadParameter(f"{base!r} is not an http(s) URL", param_hint="--url")
    if not base.startswith("https://"):
        click.echo("warning: Slack only sends requests to https:// URLs", err=True)
    _echo_json(manifest(base, name))


# --- status pages ---------------------------------------------------------------------------------
@main.group("statuspage")
def statuspage_group() -> None:
    """Status pages."""


COMPONENT_STATUSES = (
    "operational",
    "degraded_performance",
    "partial_outage",
    "major_outage",
    "under_maintenance",
)


def _components(values: tuple[str, ...]) -> dict[str, str]:
    """--component "Payments API=major_outage" (repeatable)."""
    found = {}
    for value in values:
        name, eq, status = value.rpartition("=")
        if not eq or not name or status not in COMPONENT_STATUSES:
            raise click.BadParameter(
                f"{value!r}: use NAME=STATUS, STATUS one of {', '.join(COMPONENT_STATUSES)}",
                param_hint="--component",
            )
        found[name] = status
    return found


def _show_record(record: dict[str, Any]) -> None:
    click.echo(
        f"{record['id']}  {record['kind']:<11} {record['status']:<13} {record['impact']:<8} "
        f"{record['name']}"
        + (f"  ({record['incident_ref']})" if record.get("incident_ref") else "")
    )


@statuspage_group.command("list")
@click.pass_context
def statuspage_list(ctx: click.Context) -> None:
    """The status pages, their overall status and components."""
    for page in _call(_client(ctx).request, "GET", "/v1/status-pages")["items"]:
        click.echo(
            f"{page['id']} ({page['visibility']}): {page['status']['description']}  {page['url']}"
        )
        for component in page["components"]:
            click.echo(f"  {component['status']:<21} {component['name']}")


@statuspage_group.command("show")
@click.argument("page")
@click.option("--all", "show_all", is_flag=True, help="also resolved incidents and maintenances")
@click.pass_context
def statuspage_show(ctx: click.Context, page: str, show_all: bool) -> None:
    """A page's open (or all) incidents and maintenances."""
    state = "all" if show_all else "open"
    records = _call(_client(ctx).request, "GET", f"/v1/status-pages/{page}/incidents?state={state}")
    for record in records["items"]:
        _show_record(record)
    if not records["items"]:
        click.echo("nothing open" if not show_all else "nothing yet")


@statuspage_group.command("publish")
@click.argument("incident_id")
@click.option(
    "--page",
    "pages",
    multiple=True,
    help="page id (repeatable; default: the pages showing the incident's service's components)",
)
@click.option(
    "--status",
    type=click.Choice(["investigating", "identified", "monitoring", "resolved"]),
    help="default: from the incident's status",
)
@click.option("--text", help="the wording (default: the template for the status and severity)")
@click.option("--by", "author", default=None, help="who publishes (on the timeline)")
@click.option("--yes", is_flag=True, help="publish without showing the preview first")
@click.pass_context
def statuspage_publish(
    ctx: click.Context,
    incident_id: str,
    pages: tuple[str, ...],
    status: str | None,
    text: str | None,
    author: str | None,
    yes: bool,
) -> None:
    """Put a Tocsin incident on its status pages (or update it there): shows the preview, then
    asks before publishing."""
    client = _client(ctx)
    body: dict[str, Any] = {"status": status, "body": text, "author": author}
    if pages:
        body["pages"] = list(pages)
    path = f"/v1/incidents/{incident_id}/status-page"
    if not yes:
        preview = _call(client.request, "POST", path, json={**body, "preview": True})
        for draft in preview["drafts"]:
            where = f"update {draft['record_id']}" if draft["record_id"] else "open"
            click.echo(
                f"[{draft['page']}] {where}: {draft['name']} — {draft['status']}, "
                f"impact {draft['impact']}"
            )
            for name, state in draft["components"].items():
                click.echo(f"    {name}: {state}")
            click.echo(f"    {draft['body']}")
        if not click.confirm("Publish?", default=False):
            raise click.Abort()
    result = _call(client.request, "POST", path, json=body)
    for record in result["published"]:
        _show_record(record)
    if not result["published"]:
        click.echo("the status pages say this already: nothing published")


@statuspage_group.command("update")
@click.argument("page")
@click.argument("record_id")
@click.argument("status")
@click.argument("text")
@click.option("--component", "components", multiple=True, help="NAME=STATUS (repeatable)")
@click.option("--by", "author", default=None)
@click.pass_context
def statuspage_update(
    ctx: click.Context,
    page: str,
    record_id: str,
    status: str,
    text: str,
    components: tuple[str, ...],
    author: str | None,
) -> None:
    """Post an update to an incident or maintenance of a page (STATUS: investigating,
    identified, monitoring, resolved; for maintenances scheduled, in_progress, verifying,
    completed)."""
    body: dict[str, Any] = {"status": status, "body": text, "author": author}
    if components:
        body["components"] = _components(components)
    path = f"/v1/status-pages/{page}/incidents/{record_id}/updates"
    _show_record(_call(_client(ctx).request, "POST", path, json=body))


@statuspage_group.command("maintenance")
@click.argument("page")
@click.argument("name")
@click.argument("text")
@click.option("--start", required=True, help="ISO time")
@click.option("--end", help="ISO time")
@click.option("--duration", help="instead of --end: 30m, 2h")
@click.option("--component", "components", multiple=True, help="component name (repeatable)")
@click.option("--impact", type=click.Choice(["none", "minor", "major", "critical"]), default="none")
@click.option("--by", "author", default=None)
@click.pass_context
def statuspage_maintenance(
    ctx: click.Context,
    page: str,
    name: str,
    text: str,
    start: str,
    end: str | None,
    duration: str | None,
    components: tuple[str, ...],
    impact: str,
    author: str | None,
) -> None:
    """Schedule a maintenance (it starts and completes on its own at its times)."""
    starts, ends = _window(start, end, duration)
    body = {
        "name": name,
        "body": text,
        "scheduled_for": starts.isoformat(),
        "scheduled_until": ends.isoformat(),
        "components": list(components),
        "impact": impact,
        "author": author,
    }
    _show_record(
        _call(_client(ctx).request, "POST", f"/v1/status-pages/{page}/maintenances", json=body)
    )


@statuspage_group.command("rebuild")
@click.argument("page")
@click.pass_context
def statuspage_rebuild(ctx: click.Context, page: str) -> None:
    """Publish a page now (only files that changed are written)."""
    result = _call(_client(ctx).request, "POST", f"/v1/status-pages/{page}/publish")
    click.echo(
        f"{page}: {result['written']} written, {result['deleted']} deleted, "
        f"{result['unchanged']} unchanged ({result['seconds']} s)"
        + ("" if result["published"] else " — another publisher is at work and will include it")
    )


@statuspage_group.command("viewer")
@click.argument("page")
@click.argument("name")
@click.option("--days", type=click.IntRange(1, 365), default=30, show_default=True)
@click.option("--by", "author", default=None)
@click.pass_context
def statuspage_viewer(
    ctx: click.Context, page: str, name: str, days: int, author: str | None
) -> None:
    """An access link to a private page for NAME (revoke: `tocsin statuspage revoke`)."""
    body = {"name": name, "days": days, "author": author}
    viewer = _call(_client(ctx).request, "POST", f"/v1/status-pages/{page}/viewers", json=body)
    click.echo(f"viewer {viewer['id']} ({name}), valid until {viewer['valid_until']}:")
    click.echo(viewer["url"])


@statuspage_group.command("revoke")
@click.argument("page")
@click.argument("viewer_id")
@click.pass_context
def statuspage_revoke(ctx: click.Context, page: str, viewer_id: str) -> None:
    """Revoke an access link (cookies already handed out run out within 12 hours)."""
    _call(_client(ctx).request, "DELETE", f"/v1/status-pages/{page}/viewers/{viewer_id}")
    click.echo(f"revoked {viewer_id}")


@statuspage_group.command("keygen")
@click.option(
    "--config-dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default="config",
    show_default=True,
    help="the configuration (names the secret: status_pages.cookie_secret)",
)
@click.option(
    "--public-key",
    "public_key_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="where to write the public key (default: <config-dir>/statuspage-cookies.pub.pem)",
)
@click.option(
    "--secret-name",
    help="Secrets Manager secret for the private key (default: status_pages.cookie_secret)",
)
@click.option(
    "--private-key-out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="write the private key to this new file (mode 0600) instead of Secrets Manager",
)
def statuspage_keygen(
    config_dir: Path,
    public_key_path: Path | None,
    secret_name: str | None,
    private_key_out: Path | None,
) -> None:
    """Create the key pair that signs the CloudFront cookies of private status pages.

    The private key goes to Secrets Manager (your AWS credentials and region: the stack's), a
    new version when the secret exists (the old key stays as previous_private_key until the
    stack runs with the new public key). The public key is written to the configuration:
    commit it and deploy. The private key is never printed."""
    from tocsin.services import cloudfront_cookies as cookies

    if private_key_out is not None and secret_name is not None:
        raise click.UsageError("give --secret-name or --private-key-out, not both")
    public_path = public_key_path or config_dir / cookies.PUBLIC_KEY_FILE
    if private_key_out is None and secret_name is None:
        secret_name = _cookie_secret_name(config_dir)
    private_pem, public_pem = cookies.generate_key_pair()
    # the private key first: a public key without its private half would lock readers out
    if private_key_out is not None:
        _write_private_key(private_key_out, private_pem)
        stored = f"wrote the private key to {private_key_out} (mode 0600)"
    else:
        assert secret_name is not None
        stored = _store_private_key(secret_name, private_pem)
    public_path.parent.mkdir(parents=True, exist_ok=True)
    replaced = public_path.exists()
    public_path.write_bytes(public_pem)
    click.echo(stored)
    click.echo(
        f"{'replaced' if replaced else 'wrote'} the public key {public_path} "
        f"(sha256 {cookies.fingerprint(public_pem)[:16]})"
    )
    click.echo("next: commit the public key and deploy (`npx cdk deploy Tocsin`)")


def _cookie_secret_name(config_dir: Path) -> str:
    from tocsin.config_loader import load_config

    try:
        return load_config(config_dir).status_pages.cookie_secret
    except Exception as exc:
        raise click.ClickException(
            f"cannot read the secret name from {config_dir} ({exc}); fix the configuration "
            "or pass --secret-name"
        ) from None


def _write_private_key(path: Path, private_pem: bytes) -> None:
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise click.ClickException(f"{path} exists; remove it or choose another path") from None
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(private_pem)


def _store_private_key(secret_name: str, private_pem: bytes) -> str:
    """Create the secret or put a new version of it; returns what was done (no key material)."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError
    from tocsin.services import cloudfront_cookies as cookies

    value = {cookies.SECRET_PRIVATE_KEY: private_pem.decode("ascii")}
    try:
        client = boto3.client("secretsmanager")
        try:
            current = client.get_secret_value(SecretId=secret_name)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                raise
            client.create_secret(
                Name=secret_name,
                Description="Tocsin: signs the CloudFront cookies of private status pages",
                SecretString=json.dumps(value),
            )
            return f"created the Secrets Manager secret {secret_name} with the private key"
        try:
            previous = json.loads(current.get("SecretString") or "{}").get(
                cookies.SECRET_PRIVATE_KEY
            )
        except (ValueError, AttributeError):
            previous = None
        if isinstance(previous, str) and previous:
            # signs until the stack is deployed with the new public key
            value[cookies.SECRET_PREVIOUS_PRIVATE_KEY] = previous
        client.put_secret_value(SecretId=secret_name, SecretString=json.dumps(value))
    except (BotoCoreError, ClientError) as exc:
        raise click.ClickException(
            f"could not store the private key in {secret_name}: {exc}"
        ) from None
    return (
        f"stored a new private key in the Secrets Manager secret {secret_name} "
        "(the previous one stays as previous_private_key until you deploy)"
    )


# --- Microsoft Teams ------------------------------------------------------------------------------
@main.group("teams")
def teams_group() -> None:
    """Microsoft Teams (docs/chatops.md#microsoft-teams)."""


@teams_group.command("manifest")
@click.option("--url", required=True, help="the Tocsin API's https URL (the ApiUrl output)")
@click.option("--bot-id", required=True, help="the Azure Bot's Microsoft App ID")
@click.option("--version", "app_version", default="1.0.0", show_default=True)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default="tocsin-teams.zip",
    show_default=True,
)
def teams_manifest(url: str, bot_id: str, app_version: str, out: Path) -> None:
    """Write the Teams app package (manifest.json and icons) to upload in Teams."""
    from tocsin_local.teams_app import TeamsAppError, package

    try:
        data = package(url, bot_id, app_version)
    except TeamsAppError as exc:
        raise click.BadParameter(str(exc)) from None
    out.write_bytes(data)
    click.echo(f"wrote {out}: upload it in Teams (Apps → Manage your apps → Upload an app)")


# --- runbooks -------------------------------------------------------------------------------------
@main.group()
def runbooks() -> None:
    """Runbooks: list, suggest for an incident, search, staleness report."""


def _echo_suggestions(items: list[dict[str, Any]]) -> None:
    if not items:
        click.echo("no runbook matches")
    for n, item in enumerate(items, 1):
        mark = " (linked by the alert)" if item["direct"] else ""
        click.echo(
            f"{n}. {item['title']}{mark}  [{item['runbook_id'] or '-'}]  {item['score']:.2f}"
        )
        click.echo(f"   why: {'; '.join(item['reasons'])}")
        if item.get("link"):
            click.echo(f"   {item['link']}")


@runbooks.command("list")
@click.pass_context
def runbooks_list(ctx: click.Context) -> None:
    """Every runbook (repository files and wiki pages)."""
    items = _call(_client(ctx).request, "GET", "/v1/runbooks")["items"]
    for rb in items:
        click.echo(
            f"{rb['id']:<28} {rb['source']:<10} {rb['owner']:<12} {rb['last_reviewed']}  "
            f"{','.join(rb['services']) or '-':<16} {rb['title']}"
        )


@runbooks.command("suggest")
@click.argument("incident")
@click.option("--limit", type=int, default=5, show_default=True)
@click.pass_context
def runbooks_suggest(ctx: click.Context, incident: str, limit: int) -> None:
    """The runbooks for an incident (INC-42 or its id), with why each matched."""
    body = _call(
        _client(ctx).request, "GET", f"/v1/incidents/{incident}/runbooks", params={"limit": limit}
    )
    _echo_suggestions(body["suggested"])
    if body["used"]:
        click.echo("used: " + ", ".join(u["runbook_id"] for u in body["used"]))


@runbooks.command("search")
@click.argument("query", nargs=-1, required=True)
@click.option("--incident", help="rank with this incident's service and alerts too")
@click.option("--limit", type=int, default=5, show_default=True)
@click.pass_context
def runbooks_search(
    ctx: click.Context, query: tuple[str, ...], incident: str | None, limit: int
) -> None:
    """Search runbooks by words."""
    params: dict[str, Any] = {"q": " ".join(query), "limit": limit}
    if incident:
        params["incident"] = incident
    _echo_suggestions(
        _call(_client(ctx).request, "GET", "/v1/runbooks/search", params=params)["items"]
    )


@runbooks.command("report")
@click.option("--json", "as_json", is_flag=True, help="the report as JSON")
@click.option("--all", "show_all", is_flag=True, help="also runbooks with nothing to flag")
@click.pass_context
def runbooks_report(ctx: click.Context, as_json: bool, show_all: bool) -> None:
    """Staleness: review overdue, unused, marked unhelpful."""
    report = _call(_client(ctx).request, "GET", "/v1/runbooks/report")
    if as_json:
        _echo_json(report)
        return
    counts = report["counts"]
    click.echo(
        f"{counts['runbooks']} runbooks, {counts['flagged']} flagged: "
        f"{counts.get('review_overdue', 0)} review overdue, {counts.get('unused', 0)} unused, "
        f"{counts.get('unhelpful', 0)} unhelpful"
    )
    for entry in report["items"]:
        if not entry["flags"] and not show_all:
            continue
        stats = entry["stats"]
        click.echo(
            f"\n{entry['id']} — {entry['title']} (owner {entry['owner']}, "
            f"reviewed {entry['last_reviewed']})"
        )
        click.echo(
            f"  suggested {stats['suggested']}, opened {stats['opened']}, "
            f"helpful {stats['helpful']}, not helpful {stats['unhelpful']}"
        )
        for note in entry["notes"]:
            click.echo(f"  ! {note}")


# --- postmortems ----------------------------------------------------------------------------------
@main.group()
def postmortem() -> None:
    """Postmortems: show (generated if missing or stale), generate now, save the team's sections."""


@postmortem.command("show")
@click.argument("incident")
@click.option("--format", "fmt", type=click.Choice(["md", "html", "json"]), default="md")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="write to a file")
@click.pass_context
def postmortem_show(ctx: click.Context, incident: str, fmt: str, out: Path | None) -> None:
    """The postmortem of INCIDENT (INC-42 or its id) as Markdown, HTML or JSON."""
    body = _call(
        _client(ctx).request, "GET", f"/v1/incidents/{incident}/postmortem", params={"format": fmt}
    )
    text = json.dumps(body, indent=2, sort_keys=True) if not isinstance(body, str) else body
    if out is not None:
        out.write_text(text)
        click.echo(f"wrote {out}")
    else:
        click.echo(text)


@postmortem.command("generate")
@click.argument("incident")
@click.pass_context
def postmortem_generate(ctx: click.Context, incident: str) -> None:
    """Generate INCIDENT's postmortem now (the team's sections are kept)."""
    made = _call(_client(ctx).request, "POST", f"/v1/incidents/{incident}/postmortem")
    click.echo(f"{made['ref']}: {made['link']}")
    for fmt, key in sorted(made["keys"].items()):
        click.echo(f"  {fmt}: {key}")


@postmortem.command("sections")
@click.argument("incident")
@click.argument("markdown", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--by", help="who writes (a person id)")
@click.pass_context
def postmortem_sections(ctx: click.Context, incident: str, markdown: Path, by: str | None) -> None:
    """Save the sections written in an edited postmortem.md (between its markers)."""
    body = {"markdown": markdown.read_text(), **({"by": by} if by else {})}
    made = _call(
        _client(ctx).request, "PUT", f"/v1/incidents/{incident}/postmortem/sections", json=body
    )
    click.echo(f"{made['ref']}: sections saved, regenerated: {made['link']}")


# --- action items ---------------------------------------------------------------------------------
@main.group()
def actions() -> None:
    """Action items across incidents: list, add, mark done, change."""


def _action_line(item: dict[str, Any], today: str) -> str:
    due = item.get("due") or "-"
    late = " OVERDUE" if item["status"] == "open" and item.get("due") and due < today else ""
    ticket = (item.get("ticket") or {}).get("key") or (
        "ticket pending" if item.get("ticket_sync") == "create" else "-"
    )
    error = f"  ! ticket: {item['ticket_error']}" if item.get("ticket_error") else ""
    return (
        f"{item['id']:<19} {item['incident_id'][:30]:<30} {item['status']:<9} "
        f"{item['priority']:<7} due {due:<10}{late} {item.get('owner') or '-':<10} "
        f"{ticket:<14} {item['text'][:80]}{error}"
    )


@actions.command("list")
@click.option("--status", type=click.Choice(["open", "done", "cancelled"]), default="open")
@click.option("--owner", help="a person id")
@click.option("--overdue", is_flag=True, help="open items past their due date")
@click.option("--incident", help="one incident's items (INC-42 or its id), any status")
@click.option("--limit", type=int, default=100, help="at most this many (across pages)")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def actions_list(
    ctx: click.Context,
    status: str,
    owner: str | None,
    overdue: bool,
    incident: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """Action items across incidents, soonest due first (overdue first)."""
    client = _client(ctx)
    if incident:
        items = _call(client.request, "GET", f"/v1/incidents/{incident}/action-items")["items"]
    else:
        items = []
        cursor: str | None = None
        while len(items) < limit:
            params: dict[str, Any] = {"status": status, "limit": min(100, limit - len(items))}
            params |= {"owner": owner} if owner else {}
            params |= {"overdue": "true"} if overdue else {}
            params |= {"cursor": cursor} if cursor else {}
            page = _call(client.request, "GET", "/v1/action-items", params=params)
            items += page["items"]
            cursor = page.get("next_cursor")
            if not cursor:
                break
    if as_json:
        _echo_json(items)
        return
    today = datetime.now(UTC).date().isoformat()
    for item in items:
        click.echo(_action_line(item, today))
    if not items:
        click.echo("no action items")


@actions.command("add")
@click.argument("incident")
@click.argument("text")
@click.option("--owner", help="a person id")
@click.option("--due", help="YYYY-MM-DD, today, tomorrow, 3d, 2w")
@click.option("--priority", type=click.Choice(["urgent", "high", "medium", "low"]))
@click.option("--by", help="who adds it (a person id)")
@click.pass_context
def actions_add(
    ctx: click.Context,
    incident: str,
    text: str,
    owner: str | None,
    due: str | None,
    priority: str | None,
    by: str | None,
) -> None:
    """Add an action item to INCIDENT (INC-42 or its id)."""
    body: dict[str, Any] = {"text": text, "owner": owner, "priority": priority, "created_by": by}
    if due:
        body["due"] = _due(due).isoformat()
    item = _call(
        _client(ctx).request,
        "POST",
        f"/v1/incidents/{incident}/action-items",
        json={k: v for k, v in body.items() if v is not None},
    )
    click.echo(
        f"{item['id']} added ({item['status']}, {item['priority']}, due {item.get('due') or '-'})"
    )


@actions.command("done")
@click.argument("incident")
@click.argument("action_id")
@click.option("--by", help="who (a person id)")
@click.pass_context
def actions_done(ctx: click.Context, incident: str, action_id: str, by: str | None) -> None:
    """Mark ACTION_ID of INCIDENT done (its ticket is completed by the next sweep)."""
    body = {"status": "done", **({"changed_by": by} if by else {})}
    item = _call(
        _client(ctx).request,
        "PATCH",
        f"/v1/incidents/{incident}/action-items/{action_id}",
        json=body,
    )
    click.echo(f"{item['id']}: {item['status']}")


@actions.command("update")
@click.argument("incident")
@click.argument("action_id")
@click.option("--status", type=click.Choice(["open", "done", "cancelled"]))
@click.option("--owner", help="a person id; `none` clears it")
@click.option("--due", help="YYYY-MM-DD, tomorrow, 3d, 2w; `none` clears it")
@click.option("--priority", type=click.Choice(["urgent", "high", "medium", "low"]))
@click.option("--text")
@click.option("--by", help="who (a person id)")
@click.pass_context
def actions_update(
    ctx: click.Context,
    incident: str,
    action_id: str,
    status: str | None,
    owner: str | None,
    due: str | None,
    priority: str | None,
    text: str | None,
    by: str | None,
) -> None:
    """Change an action item."""
    body: dict[str, Any] = {
        k: v
        for k, v in {"status": status, "priority": priority, "text": text, "changed_by": by}.items()
        if v is not None
    }
    if owner is not None:
        body["owner"] = None if owner.lower() == "none" else owner
    if due is not None:
        body["due"] = None if due.lower() == "none" else _due(due).isoformat()
    if not body:
        raise click.UsageError(
            "nothing to change: give --status, --owner, --due, --priority or --text"
        )
    item = _call(
        _client(ctx).request,
        "PATCH",
        f"/v1/incidents/{incident}/action-items/{action_id}",
        json=body,
    )
    click.echo(_action_line(item, datetime.now(UTC).date().isoformat()))


def _due(word: str) -> date:
    from tocsin.domain.action_items import parse_due
    from tocsin.domain.errors import InvalidRequestError

    try:
        return parse_due(word, datetime.now(UTC).date())
    except InvalidRequestError as exc:
        raise click.BadParameter(str(exc), param_hint="--due") from None


if __name__ == "__main__":
    main()
