"""Postmortems: the Markdown document (figures from :mod:`incidentctl.metrics`), placeholders, review branch."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .durations import isoformat_z
from .errors import GitError, RecordError
from .metrics import incident_metrics
from .model import REQUIRED_POSTMORTEM_FIELDS, missing_postmortem_fields
from .remind import postmortem_due

if TYPE_CHECKING:
    from .config import Config
    from .lifecycle import Change
    from .model import Incident
    from .store import Repo

TEMPLATE = "postmortem.md.j2"
POSTMORTEMS_DIR = "postmortems"


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


# -- the public summary, proposed for review ---------------------------------------------------------


def propose_public_summary(repo: Repo, incident_id: str, summary: str | None = None) -> Change:
    """Propose the postmortem's public summary for the status page (``postmortem.public: true``, with
    ``summary`` when given) on a ``propose/<id>/<n>`` branch: merged, it is public (SPEC "Review through git").

    The record is changed as the default branch has it; the checkout is untouched."""
    from .errors import InputError
    from .lifecycle import change_of
    from .model import Postmortem, clean_text

    text = clean_text(summary).strip() if summary is not None else None
    with repo.transaction(propose=True) as tx:
        store = tx.repo
        incident = store.load(store.resolve_id(incident_id))
        current = incident.postmortem or Postmortem()
        public_summary = text or (current.public_summary or "").strip()
        if not public_summary:
            raise InputError(
                f"{incident.id}: the postmortem has no public_summary; give --summary TEXT (what the status page shows)"
            )
        postmortem = current.model_copy(update={"public": True, "public_summary": public_summary})
        postmortem.model_fields_set.update({"public", "public_summary"})
        changed = incident.model_copy(update={"postmortem": postmortem})
        tx.message = f"{incident.id}: public postmortem summary for review"
        tx.save(changed)
    return change_of(tx, changed, "public postmortem summary proposed")


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
        # A maintenance never requires a postmortem (its "severity" is a placeholder, even if a severity
        # of that name is configured).
        severity = None if incident.is_maintenance else config.severities.get(incident.severity)
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
