"""``incidentctl demo``: replay a real outage into a fresh incident repo and render every channel.

Needs no credentials and no network: channels are rendered as a dry run, the site is built to disk.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from .display import print_incident
from .durations import isoformat_z
from .errors import UsageError
from .lifecycle import add_update, open_incident, resolve_incident
from .model import Incident
from .records.validate import check_file
from .render import packaged_samples
from .scaffold import init_repo
from .store import Repo

DEMO_MARKER = ".incidentctl-demo"
FIRST_SAMPLE = "2024-12-12-chatgpt-sora-api-unavailable"
DEMO_COMPONENTS = (("api", "API"), ("chatgpt", "ChatGPT"), ("sora", "Sora"))
DEMO_GROUPS = {"api": "Developers", "chatgpt": "Products", "sora": "Products"}


def load_sample(incident_id: str) -> Incident:
    path = packaged_samples() / f"{incident_id}.yaml"
    incident, problems = check_file(path, path, None, incident_id)
    if incident is None:  # pragma: no cover - the samples are linted by the tests
        raise UsageError("\n".join(problems))
    return incident


def prepare(path: Path) -> None:
    """Refuse to touch a folder that is not empty, unless an earlier demo made it."""
    if path.exists():
        if (path / DEMO_MARKER).exists():
            shutil.rmtree(path)
        elif path.is_dir() and not any(path.iterdir()):
            pass
        else:
            raise UsageError(f"{path} exists and was not made by `incidentctl demo`; pass another PATH or remove it")


#: Every other built-in channel, configured so the demo shows what each would receive. Nothing is
#: sent: publishing needs their secrets (subscriber files, SMTP URL, webhook URLs, tokens).
DEMO_CHANNELS = """\
  # The demo shows what these would send; `incidentctl publish --channel NAME` names the secret each needs.
  webhook: {}
  email: {from: "Status <status@example.com>", subject_prefix: "[Status]"}
  discord: {}
  teams: {}
  mastodon: {instance: "https://mastodon.example"}
  bluesky: {handle: status.example.com}
"""


def _demo_config(text: str) -> str:
    for cid, group in DEMO_GROUPS.items():
        text = text.replace(f"{{id: {cid}, name:", f"{{id: {cid}, group: {group}, name:")
    text = text.replace("}  # url: https://status.example.com", ', url: "https://status.example.com"}', 1)
    lines = text.splitlines(keepends=True)
    at = next((n for n, line in enumerate(lines) if line.startswith("  statuspage:")), None)
    if at is None:  # pragma: no cover - the scaffold always writes the statuspage channel
        return text
    return "".join([*lines[: at + 1], DEMO_CHANNELS, *lines[at + 1 :]])


def replay(repo: Repo, sample: Incident) -> Incident:
    """Replay ``sample`` through new/update/resolve with its own (backfilled) times."""
    first, *rest = sample.timeline
    change = open_incident(
        repo,
        sample.title,
        severity=sample.severity,
        components=dict(first.components),
        status=first.status,
        message=first.message,
        next_update=isoformat_z(first.next_update_by) if first.next_update_by else None,
        at=first.at,
        commander=sample.commander,
    )
    incident_id = change.incident.id
    for entry in rest:
        if entry.status == "resolved":
            resolve_incident(repo, incident_id, message=entry.message, at=entry.at)
            continue
        add_update(
            repo,
            incident_id,
            message=entry.message,
            status=entry.status,
            components=dict(entry.components),
            internal=entry.visibility == "internal",
            next_update=isoformat_z(entry.next_update_by) if entry.next_update_by else None,
            at=entry.at,
        )
    incident = repo.load(incident_id)
    if sample.postmortem is not None:
        incident = incident.model_copy(update={"postmortem": sample.postmortem, "sources": sample.sources})
        with repo.transaction(f"{incident_id}: postmortem written") as tx:
            tx.save(incident)
    return incident


def run_demo(path: Path, out: Callable[[str], object] = print) -> Repo:
    prepare(path)
    init_repo(path, "OpenAI (sample replay)", DEMO_COMPONENTS, "America/New_York")
    config_path = path / "incidentctl.yaml"
    config_path.write_text(_demo_config(config_path.read_text(encoding="utf-8")), encoding="utf-8")
    (path / DEMO_MARKER).write_text("made by `incidentctl demo`; safe to delete\n", encoding="utf-8")
    repo = Repo.open(path)
    from .gitops import commit

    commit(repo.root, [config_path], "demo: components grouped, status page URL")

    sample = load_sample(FIRST_SAMPLE)
    out(f"Replaying the sample {sample.title!r} ({sample.started_at:%Y-%m-%d}) into {path.resolve()}\n")
    incident = replay(repo, sample)
    out(f"$ incidentctl show {incident.id}")
    print_incident(incident, repo.config)
    _render_channels(repo, incident, out)
    _postmortem(repo, incident, out)
    # The demo's "now": the day after the replayed outage (the status page is built as of then).
    now = incident.timeline[-1].at + timedelta(days=1)
    maintenance = schedule_followup(repo, now)
    out(f"\n== The fix, done right: a scheduled maintenance ==\n$ incidentctl show {maintenance.id}")
    print_incident(maintenance, repo.config, now=now)
    _render_channels(
        repo,
        maintenance,
        out,
        ("slack", "x"),
        "Its announcement on Slack and X (every channel gets one; `tick` "
        "posts the 24h and 1h reminders, the start and the end)",
    )
    _site(repo, out, now)
    out("")
    out(f"Try it yourself:  cd {path} && incidentctl list && incidentctl remind --now 2024-12-12T00:40:00Z")
    assert maintenance.scheduled_for is not None
    out(f"Replay its life:  incidentctl tick --now {isoformat_z(maintenance.scheduled_for)}")
    return repo


#: The maintenance the demo schedules after the outage: the change that caused it (a new telemetry
#: service deployed to every cluster at once overwhelmed the Kubernetes API servers), done right.
FOLLOWUP_TITLE = "Staged rollout of the telemetry service"
FOLLOWUP_MESSAGE = (
    "We will roll out the telemetry service again, one cluster at a time, with Kubernetes API server load "
    "limits and break-glass access to the control plane in place. Each stage waits for the clusters to stay "
    "healthy before the next. No downtime is expected; API, ChatGPT and Sora may respond more slowly for a "
    "few minutes while each cluster is updated."
)


def schedule_followup(repo: Repo, now: datetime) -> Incident:
    """Schedule the follow-up maintenance three days after ``now``, 14:00-16:00 UTC (announced at ``now``)."""
    from .maintenance import schedule_maintenance

    day = (now + timedelta(days=3)).date()
    start = datetime(day.year, day.month, day.day, 14, 0, tzinfo=UTC)
    change = schedule_maintenance(
        repo,
        FOLLOWUP_TITLE,
        start=start,
        end=start + timedelta(hours=2),
        components=[cid for cid, _name in DEMO_COMPONENTS],
        message=FOLLOWUP_MESSAGE,
        now=now,
    )
    return change.incident


def _render_channels(
    repo: Repo,
    incident: Incident,
    out: Callable[[str], object],
    channels: tuple[str, ...] | None = None,
    heading: str = "What each channel would receive, update by update",
) -> None:
    from .channels.registry import get_channel
    from .delivery import preview
    from .render import local_time

    out(f"\n== {heading} (dry run: nothing is sent) ==")
    previews = sorted(preview(repo, incident, channels), key=lambda item: (item.at, item.kind == "edit"))
    current = None
    for item in previews:
        if item.at != current:
            current = item.at
            out(f"\n-- {local_time(item.at, repo.config.tz)} --")
        for line in get_channel(item.channel).show(item, demo=True):
            out(line)


def _postmortem(repo: Repo, incident: Incident, out: Callable[[str], object]) -> None:
    try:
        from .postmortem import render_postmortem
    except ImportError:
        return
    target = repo.root / "postmortems" / f"{incident.id}.md"
    target.parent.mkdir(exist_ok=True)
    target.write_text(render_postmortem(repo, incident), encoding="utf-8")
    out(f"\n== Postmortem rendered to {target} ==")


def _site(repo: Repo, out: Callable[[str], object], now: datetime) -> None:
    try:
        from .site import build_site
    except ImportError:
        return
    # Built as of the day after the replayed outage, so its 90-day bars show it and the maintenance is upcoming.
    output = build_site(repo, now=now)
    out(f"\n== Status page built: open {output / 'index.html'} (or run `incidentctl site serve` in {repo.root}) ==")
