"""``preview``: exactly what each channel would receive for the public entries added since a git ref.

For a pull request (a ``--propose`` branch): the records changed between ``REF`` and ``HEAD`` are read
as they are in both commits; a public entry of ``HEAD`` that ``REF`` does not have (same time, status and
message) is new, and is rendered by the same renderer ``publish`` uses (the public view of the record as
``HEAD`` holds it, the channel's own ``render``), so the preview is what ``publish`` sends once merged.
A channel that edits its first message (Slack) also shows that edit. No network, no credentials.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .channels.base import Preview
from .errors import GitError

if TYPE_CHECKING:
    from .model import Entry, Incident
    from .store import Repo


@dataclass
class PreviewReport:
    base: str
    previews: list[Preview] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    """``path:line: message`` of a record of ``HEAD`` that is invalid (not previewed)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "base": self.base,
            "previews": [preview.to_json() for preview in self.previews],
            "problems": list(self.problems),
        }


def default_base(repo: Repo) -> str:
    """The default branch as the remote has it (``origin/main``), else the local default branch."""
    from .propose import _ok, default_branch, has_remote

    remote = repo.config.git.remote
    branch = default_branch(repo.root, remote)
    if has_remote(repo.root, remote) and _ok(repo.root, "rev-parse", "--verify", "--quiet", f"{remote}/{branch}"):
        return f"{remote}/{branch}"
    return branch


def _record_at(repo: Repo, ref: str, incident_id: str) -> tuple[Incident | None, list[str]]:
    import subprocess

    from .records.validate import check_bytes

    rel = f"incidents/{incident_id}.yaml"
    shown = subprocess.run(["git", "show", f"{ref}:{rel}"], cwd=repo.root, capture_output=True, check=False)
    if shown.returncode != 0:
        return None, []
    return check_bytes(shown.stdout, rel, repo.config, incident_id)


def _identity(entry: Entry) -> tuple[str, str, str]:
    """What makes a public entry the same one in both commits (its time alone may repeat within a second)."""
    return (entry.at.isoformat(), entry.status, entry.message)


def added_entries(repo: Repo, base: str, head: str = "HEAD") -> tuple[list[tuple[Incident, list[int]]], list[str]]:
    """Per record changed between ``base`` and ``head``: the record at ``head`` and the timeline indexes of
    its public entries that ``base`` does not have; and the problems of invalid records at ``head``."""
    from .propose import git

    for ref in (base, head):
        try:
            git(repo.root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
        except GitError:
            raise GitError(f"preview: {ref!r} is not a commit here (fetch it first, e.g. `git fetch origin`)") from None
    changed = git(repo.root, "diff", "--name-only", "--no-renames", base, head, "--", "incidents/").splitlines()
    found: list[tuple[Incident, list[int]]] = []
    problems: list[str] = []
    for rel in sorted(changed):
        if not rel.endswith(".yaml") or rel.count("/") != 1:
            continue
        incident_id = rel.removeprefix("incidents/").removesuffix(".yaml")
        incident, record_problems = _record_at(repo, head, incident_id)
        if incident is None:
            problems.extend(record_problems)
            continue
        before, _ = _record_at(repo, base, incident_id)
        known = (
            Counter(_identity(entry) for entry in before.timeline if entry.public) if before is not None else Counter()
        )
        added = []
        for index, entry in enumerate(incident.timeline):
            if not entry.public:
                continue
            if known[_identity(entry)] > 0:
                known[_identity(entry)] -= 1
            else:
                added.append(index)
        if added:
            found.append((incident, added))
    return found, problems


def preview(repo: Repo, base: str | None = None, channels: Sequence[str] | None = None) -> PreviewReport:
    """What every configured channel (or ``channels``) receives for the public entries added since ``base``."""
    from .channels.registry import get_channel
    from .delivery.plan import (
        channel_view,
        choose_channels,
        kind_of,
        public_timeline_indexes,
        render_entry,
        summary_preview,
    )
    from .templating import templates_for

    ref = base or default_base(repo)
    report = PreviewReport(base=ref)
    found, report.problems = added_entries(repo, ref)
    chosen, _ = choose_channels(repo, channels, dry_run=True)
    templates = templates_for(repo.root, repo.config)
    for record, added in found:
        incident = channel_view(record)  # imported history is not sent, so not previewed
        indexes = [index for index in added if incident.timeline[index].public]
        view = incident.public_view()
        public_index_of = {full: public for public, full in enumerate(public_timeline_indexes(incident))}
        for name in chosen:
            channel = get_channel(name)
            for timeline_index in indexes:
                public_index = public_index_of[timeline_index]
                message = render_entry(channel, view, public_index, repo, templates)
                report.previews.append(
                    Preview(
                        name, incident.id, incident.timeline[timeline_index].at, kind_of(public_index),
                        message.text, message.payload,
                    )
                )  # fmt: skip
            summary = summary_preview(channel, view, repo, templates)
            if summary is not None:
                report.previews.append(summary)
    return report


def preview_lines(report: PreviewReport) -> list[str]:
    """The readable preview (Slack as a reader sees it, not Block Kit), for a terminal or a PR comment."""
    from .channels.registry import get_channel

    if not report.previews:
        return [f"nothing to publish: no public entry was added since {report.base}"]
    lines: list[str] = []
    for item in report.previews:
        lines.append(f"--- {item.channel} · {item.incident_id} · {item.at:%Y-%m-%dT%H:%M:%SZ} · {item.kind}")
        lines.extend(get_channel(item.channel).show(item, demo=True))
    return lines
