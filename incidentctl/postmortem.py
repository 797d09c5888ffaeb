"""Postmortems: figures computed from the record, the Markdown document, placeholders, review branch.

Definitions used by every figure (the rendered document states them too):

- **identified**: the first entry (public or internal) whose status is ``identified`` or later.
- **mitigated**: the earlier of the first ``monitoring``/``resolved`` entry and, when some component
  was worse than ``degraded_performance``, the first entry after which none is.
- **resolved**: when the incident was last resolved. All three are counted from the first entry.
- **impact per component**: time spent in any state other than ``operational``.
- **silence**: a stretch without a public update: from the start to the first public entry,
  between public entries, and from the last one to the resolution (or to now while open).
- **update on time**: a public update posted by the deadline the previous one set (its promised
  ``next_update_by``, else the severity's cadence).
"""

from __future__ import annotations

import itertools
import subprocess
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .durations import isoformat_z, utcnow
from .errors import GitError, RecordError
from .model import IMPACT_RANK
from .remind import REQUIRED_POSTMORTEM_FIELDS, missing_postmortem_fields, postmortem_due

if TYPE_CHECKING:
    from .config import Config
    from .lifecycle import Change
    from .model import Incident
    from .store import Repo

TEMPLATE = "postmortem.md.j2"
POSTMORTEMS_DIR = "postmortems"
_MITIGATED_RANK = IMPACT_RANK["degraded_performance"]


@dataclass(frozen=True)
class Silence:
    """A stretch of time without a public update."""

    start: datetime
    end: datetime

    @property
    def length(self) -> timedelta:
        return self.end - self.start

    def to_json(self) -> dict[str, Any]:
        return {
            "from": isoformat_z(self.start),
            "to": isoformat_z(self.end),
            "seconds": int(self.length.total_seconds()),
        }


@dataclass(frozen=True)
class ComponentImpact:
    """How one component was affected during the incident."""

    component: str
    name: str
    worst: str
    impacted: timedelta
    first_impacted_at: datetime | None
    restored_at: datetime | None
    """When it was last back to operational (None while still impacted)."""


@dataclass(frozen=True)
class IncidentMetrics:
    """Figures computed from an incident's timeline (see the module docstring for definitions)."""

    started_at: datetime
    end: datetime
    """The resolution, or ``now`` while the incident is open."""
    ongoing: bool
    identified_at: datetime | None
    mitigated_at: datetime | None
    resolved_at: datetime | None
    public_updates: int
    internal_entries: int
    silences: list[Silence]
    updates_judged: int
    updates_on_time: int
    components: list[ComponentImpact] = field(default_factory=list)

    @property
    def duration(self) -> timedelta:
        return self.end - self.started_at

    @property
    def time_to_identify(self) -> timedelta | None:
        return self.identified_at - self.started_at if self.identified_at else None

    @property
    def time_to_mitigate(self) -> timedelta | None:
        return self.mitigated_at - self.started_at if self.mitigated_at else None

    @property
    def time_to_resolve(self) -> timedelta | None:
        return self.resolved_at - self.started_at if self.resolved_at else None

    @property
    def longest_silence(self) -> Silence | None:
        return max(self.silences, key=lambda silence: silence.length, default=None)

    def to_json(self) -> dict[str, Any]:
        def seconds(value: timedelta | None) -> int | None:
            return int(value.total_seconds()) if value is not None else None

        longest = self.longest_silence
        return {
            "duration_seconds": seconds(self.duration),
            "ongoing": self.ongoing,
            "time_to_identify_seconds": seconds(self.time_to_identify),
            "time_to_mitigate_seconds": seconds(self.time_to_mitigate),
            "time_to_resolve_seconds": seconds(self.time_to_resolve),
            "public_updates": self.public_updates,
            "internal_entries": self.internal_entries,
            "longest_silence": longest.to_json() if longest else None,
            "updates_on_time": self.updates_on_time,
            "updates_judged": self.updates_judged,
            "components": {
                item.component: {"worst": item.worst, "impact_seconds": seconds(item.impacted)}
                for item in self.components
            },
        }


def incident_metrics(incident: Incident, config: Config | None = None, now: datetime | None = None) -> IncidentMetrics:
    """Compute the figures for ``incident`` (``now`` ends the open ones; default: the clock)."""
    timeline = incident.timeline
    resolved_at = incident.resolved_at
    end = resolved_at or max(now or utcnow(), timeline[-1].at)
    started = incident.started_at

    identified_at = next((entry.at for entry in timeline if entry.status != "investigating"), None)
    mitigated_at = next((entry.at for entry in timeline if entry.status in ("monitoring", "resolved")), None)
    state: dict[str, str] = {}
    was_down = False
    for entry in timeline:
        state.update(entry.components)
        worst = max((IMPACT_RANK[impact] for impact in state.values()), default=0)
        if worst > _MITIGATED_RANK:
            was_down = True
        elif was_down:
            if mitigated_at is None or entry.at < mitigated_at:
                mitigated_at = entry.at
            break

    public = incident.public_entries
    points = [started, *(entry.at for entry in public)]
    if end > points[-1]:
        points.append(end)
    silences = [Silence(a, b) for a, b in itertools.pairwise(points) if b > a]

    on_time = judged = 0
    cadence = (
        config.severities[incident.severity].update_every if config and incident.severity in config.severities else None
    )
    for before, after in itertools.pairwise(public):
        if before.status == "resolved":
            continue  # nothing is promised after a resolution
        deadline = before.next_update_by or (before.at + cadence if cadence else None)
        if deadline is None:
            continue
        judged += 1
        on_time += after.at <= deadline

    return IncidentMetrics(
        started_at=started,
        end=end,
        ongoing=resolved_at is None,
        identified_at=identified_at,
        mitigated_at=mitigated_at,
        resolved_at=resolved_at,
        public_updates=len(public),
        internal_entries=len(timeline) - len(public),
        silences=silences,
        updates_judged=judged,
        updates_on_time=on_time,
        components=_component_impacts(incident, config, end),
    )


def _component_impacts(incident: Incident, config: Config | None, end: datetime) -> list[ComponentImpact]:
    since: dict[str, datetime | None] = {}
    total: dict[str, timedelta] = {}
    worst: dict[str, str] = {}
    first: dict[str, datetime] = {}
    restored: dict[str, datetime | None] = {}
    for entry in incident.timeline:
        for component, impact in entry.components.items():
            total.setdefault(component, timedelta(0))
            worst.setdefault(component, "operational")
            if IMPACT_RANK[impact] > IMPACT_RANK[worst[component]]:
                worst[component] = impact
            down_since = since.get(component)
            if impact == "operational":
                if down_since is not None:
                    total[component] += entry.at - down_since
                    restored[component] = entry.at
                since[component] = None
            elif down_since is None:
                since[component] = entry.at
                first.setdefault(component, entry.at)
                restored[component] = None
    for component, down_since in since.items():
        if down_since is not None:
            total[component] += end - down_since
    return [
        ComponentImpact(
            component=component,
            name=config.component_name(component) if config else component,
            worst=worst[component],
            impacted=total[component],
            first_impacted_at=first.get(component),
            restored_at=restored.get(component),
        )
        for component in total
    ]


# -- rendering ----------------------------------------------------------------------------------------


def markdown_cell(value: Any) -> str:
    """Text safe inside a Markdown table cell: one line, pipes escaped."""
    text = " ".join(str(value if value is not None else "").split())
    return text.replace("\\", "\\\\").replace("|", "\\|")


def markdown_quote(value: Any) -> str:
    """Text as a Markdown blockquote, so a ``#`` or list in a message cannot break the document."""
    lines = str(value if value is not None else "").strip().splitlines() or [""]
    return "\n".join(f"> {line}".rstrip() for line in lines)


def postmortem_context(incident: Incident, config: Config, now: datetime | None = None) -> dict[str, Any]:
    """Everything the postmortem template sees."""
    from .model import Postmortem

    metrics = incident_metrics(incident, config, now)
    return {
        "incident": incident,
        "postmortem": incident.postmortem or Postmortem(),
        "has_postmortem": incident.postmortem is not None,
        "missing": missing_postmortem_fields(incident.postmortem),
        "required_fields": REQUIRED_POSTMORTEM_FIELDS,
        "severity": config.severities.get(incident.severity),
        "organization": config.organization,
        "metrics": metrics,
        "due_at": postmortem_due(incident, config),
        "component_name": config.component_name,
        "md_cell": markdown_cell,
        "md_quote": markdown_quote,
    }


def render_for(root: Path | None, config: Config, incident: Incident, now: datetime | None = None) -> str:
    """Render the postmortem of ``incident`` with the repo's template (or the packaged one)."""
    from .render import environment, render

    return render(environment(root, config), TEMPLATE, **postmortem_context(incident, config, now))


def render_postmortem(repo: Repo, incident: Incident, now: datetime | None = None) -> str:
    """The postmortem of ``incident`` as Markdown (an internal document: internal entries included)."""
    return render_for(repo.root, repo.config, incident, now)


def write_postmortem(repo: Repo, incident: Incident, output: Path, now: datetime | None = None) -> Path:
    """Render to ``output`` atomically (the folder is created)."""
    from .records.codec import atomic_write

    text = render_postmortem(repo, incident, now)
    if output.exists() and output.is_dir():
        output = output / f"{incident.id}.md"
    atomic_write(output, text)
    return output


# -- placeholders in the record -----------------------------------------------------------------------

#: (key, empty value, comment) in the order of the model; ``--init`` adds the missing ones.
PLACEHOLDERS: tuple[tuple[str, Any, str], ...] = (
    ("public", False, "true shows the public summary on the status page's incident page"),
    ("public_summary", None, "for the status page: short, no internal details"),
    ("summary", None, "what happened, in two or three sentences"),
    ("impact", None, "who was affected, how, and for how long"),
    ("root_causes", [], "why it happened: one item per cause"),
    ("trigger", None, "the change or event that set it off"),
    ("detection", None, "how we found out (alert, customer report...) and how fast"),
    ("resolution", None, "what fixed it"),
    ("lessons", {"went_well": [], "went_wrong": [], "lucky": []}, "what went well / wrong / where we got lucky"),
    ("action_items", [], "- {title: ..., owner: ..., due: 2025-01-31, url: https://..., status: open}"),
    ("authors", [], "who wrote this postmortem"),
)


def init_postmortem(repo: Repo, incident_id: str) -> Change | None:
    """Add the postmortem's missing fields to the record as commented, empty placeholders.

    Existing values and comments are kept. Returns None when every field is already there.
    """
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    from .lifecycle import change_of
    from .records.codec import rt_dump, rt_load

    with repo.transaction() as tx:
        full_id = repo.resolve_id(incident_id)
        repo.load(full_id)  # the record must be valid before we touch it
        path = repo.record_path(full_id)
        document = rt_load(path.read_text(encoding="utf-8"), repo.relpath(path))
        section = document.get("postmortem")
        if section is None:
            section = CommentedMap()
            document["postmortem"] = section
            document.yaml_set_comment_before_after_key(
                "postmortem",
                before="Postmortem (internal): fill these in, then `incidentctl postmortem ID` renders it.\n"
                "Fields left empty are listed by `incidentctl lint` and `incidentctl remind`.",
            )
        elif not isinstance(section, CommentedMap):
            raise RecordError(f"{repo.relpath(path)}: `postmortem:` must be a mapping to add placeholders to")
        added = 0
        for key, empty, comment in PLACEHOLDERS:
            if key in section:
                continue
            if isinstance(empty, dict):
                value: Any = CommentedMap()
                for sub in empty:
                    value[sub] = _flow_seq(CommentedSeq())
            elif isinstance(empty, list):
                value = _flow_seq(CommentedSeq())
            else:
                value = empty
            section[key] = value
            section.yaml_add_eol_comment(comment, key, column=24)
            added += 1
        if not added:
            return None
        tx.message = f"{full_id}: postmortem placeholders"
        incident = tx.save_text(full_id, rt_dump(document))
    return change_of(tx, incident, "postmortem placeholders")


def _flow_seq(seq: Any) -> Any:
    seq.fa.set_flow_style()
    return seq


# -- review branch ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReviewBranch:
    branch: str
    commit: str
    path: str


def review_branch(repo: Repo, incident: Incident, now: datetime | None = None) -> ReviewBranch:
    """Commit ``postmortems/<id>.md`` on a new branch ``postmortem/<id>`` for a pull request.

    Built with git plumbing (a private index, ``commit-tree``, ``update-ref``) on top of the
    current HEAD, so the user's branch, index and working tree are never touched. Refuses when the
    branch already exists.
    """
    import git

    from .gitops import git_repo, identity_args

    text = render_postmortem(repo, incident, now)
    branch = f"postmortem/{incident.id}"
    rel = f"{POSTMORTEMS_DIR}/{incident.id}.md"
    handle = git_repo(repo.root)
    if not handle.head.is_valid():
        raise GitError("the repository has no commit yet; commit something before creating a review branch")
    if f"refs/heads/{branch}" in {ref.path for ref in handle.references}:
        raise GitError(
            f"branch {branch!r} already exists; update it by hand (incidentctl postmortem {incident.id} "
            f"--output {rel}) or delete it with `git branch -D {branch}`"
        )
    git_dir = Path(handle.git_dir)
    index = git_dir / f"incidentctl-postmortem-{incident.id}.index"
    env = {"GIT_INDEX_FILE": str(index)}
    try:
        blob = _git(handle, ["hash-object", "-w", "--stdin"], input_text=text)
        _git(handle, ["read-tree", "HEAD"], env=env)
        _git(handle, ["update-index", "--add", "--cacheinfo", f"100644,{blob},{rel}"], env=env)
        tree = _git(handle, ["write-tree"], env=env)
        parent = handle.head.commit.hexsha
        message = f"{incident.id}: postmortem for review"
        commit = _git(handle, [*identity_args(handle), "commit-tree", tree, "-p", parent, "-m", message])
        # The empty old value makes the ref update fail if the branch appeared meanwhile.
        _git(handle, ["update-ref", "-m", "incidentctl postmortem --branch", f"refs/heads/{branch}", commit, ""])
    except git.GitCommandError as exc:  # pragma: no cover - reported by _git
        raise GitError(f"git: {exc}") from None
    finally:
        index.unlink(missing_ok=True)
    return ReviewBranch(branch=branch, commit=commit, path=rel)


def _git(handle: Any, args: list[str], *, env: dict[str, str] | None = None, input_text: str | None = None) -> str:
    import os

    result = subprocess.run(
        ["git", *args],
        cwd=handle.working_tree_dir,
        env={**os.environ, **(env or {})},
        input=input_text,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        raise GitError("git: " + (lines[-1] if lines else f"{args[0]} failed"))
    return result.stdout.strip()


# -- lint ---------------------------------------------------------------------------------------------


def lint_postmortems(root: Path, config: Config, incidents: list[Incident]) -> list[str]:
    """Warnings for required postmortems missing or incomplete; errors for a template that fails."""
    from .errors import TemplateError
    from .records.codec import line_of
    from .store import INCIDENTS_DIR

    problems = []
    for incident in incidents:
        rel = f"{INCIDENTS_DIR}/{incident.id}.yaml"
        severity = config.severities.get(incident.severity)
        postmortem = incident.postmortem
        if severity is not None and severity.postmortem_required and not incident.is_open:
            missing = missing_postmortem_fields(postmortem)
            due = postmortem_due(incident, config)
            when = f" (due {isoformat_z(due)})" if due else ""
            if postmortem is None:
                problems.append(
                    f"{rel}:1: warning: {incident.severity} requires a postmortem{when}; "
                    f"start one with `incidentctl postmortem {incident.id} --init`"
                )
            elif missing:
                line = _line(rel, root, ["postmortem"], line_of)
                problems.append(f"{rel}:{line}: warning: postmortem incomplete{when}: fill in {', '.join(missing)}")
        if postmortem is not None:
            if postmortem.public and not (postmortem.public_summary or "").strip():
                line = _line(rel, root, ["postmortem", "public"], line_of)
                problems.append(f"{rel}:{line}: warning: postmortem.public is true but public_summary is empty")
            try:
                render_for(root, config, incident, now=incident.resolved_at or incident.timeline[-1].at)
            except TemplateError as exc:
                problems.append(f"{exc} (rendering the postmortem of {incident.id})")
    return problems


def _line(rel: str, root: Path, loc: list[str | int], line_of: Any) -> int:
    try:
        return int(line_of((root / rel).read_text(encoding="utf-8"), loc))
    except OSError:
        return 1
