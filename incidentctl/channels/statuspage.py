"""The status page channel: an entry is delivered when the audience can see the rebuilt site.

Sending means rebuilding the site from the repo (once per ``publish`` run), then deploying it as
``channels.statuspage.deploy`` says (SPEC "What a user is always told"):

- no ``deploy``: the entry is ``built`` only, and ``publish`` says where and how to deploy;
- ``ci``: the workflow written by ``init`` deploys every push of the default branch, so the entry
  is ``delivered`` once the commit holding it is on the remote (``built`` until then);
- ``{git: {remote, branch}}``: the built site is committed to ``branch`` with git plumbing (a
  temporary index, no checkout, the working tree untouched) and pushed;
- ``{command: "..."}``: run in the repo with the output folder as ``$INCIDENTCTL_SITE``;
  delivered when it exits 0.

The delivery's ref is the incident page, relative to the site root, or its full URL when
``channels.statuspage.url`` is set. ``templates/statuspage/update.html.j2`` renders one update for
previews and ``--dry-run``.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .base import ChannelSettings, ConnectContext, Message, Preview, RenderContext, SendError, Sent

if TYPE_CHECKING:
    from ..model import Incident
    from ..store import Repo

CHANNEL = "statuspage"
TEMPLATE = "statuspage/update.html.j2"


#: How long a deploy command or a push of the site branch may take.
DEPLOY_TIMEOUT_SECONDS = 300.0


class GitTarget(BaseModel):
    model_config = ConfigDict(extra="forbid")
    remote: str = Field(default="origin", min_length=1)
    branch: str = Field(default="gh-pages", pattern=r"^[A-Za-z0-9._/-]+$")


class GitDeploy(BaseModel):
    """``deploy: {git: {remote: origin, branch: gh-pages}}``."""

    model_config = ConfigDict(extra="forbid")
    git: GitTarget


class CommandDeploy(BaseModel):
    """``deploy: {command: "rsync -a $INCIDENTCTL_SITE/ host:/var/www/status/"}``."""

    model_config = ConfigDict(extra="forbid")
    command: str = Field(min_length=1)


class StatuspageSettings(ChannelSettings):
    output: str = "site"
    url: str | None = None
    title: str | None = None
    history_page_size: int = Field(default=50, ge=1)
    deploy: Literal["ci"] | GitDeploy | CommandDeploy | None = None


class StatuspageChannel:
    name = CHANNEL
    settings_model = StatuspageSettings
    secrets = ()
    edits_root = False

    def render(self, context: RenderContext) -> Message:
        html = context.render_template(TEMPLATE)
        return Message(channel=CHANNEL, text=html.strip(), payload={"html": html.strip()})

    def show(self, preview: Preview, *, demo: bool) -> list[str]:
        if demo:
            return [f"[{CHANNEL}] incidents/{preview.incident_id}.html rebuilt with this update"]
        return [preview.text]

    def connect(self, context: ConnectContext) -> StatuspageSender:
        return StatuspageSender(context.repo, context.settings)


def settings_for(config: Any) -> StatuspageSettings | None:
    """The validated ``channels.statuspage`` settings of ``config``, ``None`` when not configured."""
    settings = config.channel_settings(CHANNEL)
    return settings if isinstance(settings, StatuspageSettings) else None


class StatuspageSender:
    def __init__(self, repo: Repo, settings: Any) -> None:
        self.settings = settings if isinstance(settings, StatuspageSettings) else StatuspageSettings()
        self.url = (self.settings.url or "").rstrip("/")
        self.repo = repo
        self._output: Path | None = None
        self._deployed = False

    def _build(self) -> Path:
        if self._output is None:
            from ..site import build_site

            try:
                self._output = build_site(self.repo)
            except OSError as exc:
                raise SendError(f"statuspage: cannot write the site: {exc.strerror or exc}", fatal=True) from None
        return self._output

    def _where(self, output: Path) -> str:
        try:
            return str(output.resolve().relative_to(self.repo.root.resolve())) + "/"
        except ValueError:
            return str(output)

    def send(self, incident: Incident, timeline_index: int, message: Message) -> Sent:
        output = self._build()
        page = f"incidents/{incident.id}.html"
        ref = f"{self.url}/{page}" if self.url else page
        deploy = self.settings.deploy
        where = self._where(output)
        if deploy is None:
            return Sent(
                ref=ref,
                state="built",
                note=f"statuspage: the site was built in {where} but nothing deploys it: set "
                "channels.statuspage.deploy to `ci` (the workflow written by `init`), "
                '{git: {remote: origin, branch: gh-pages}} or {command: "..."}',
            )
        if deploy == "ci":
            if entry_is_pushed(self.repo, incident, timeline_index):
                return Sent(ref=ref)
            return Sent(
                ref=ref,
                state="built",
                note=f"statuspage: the site was built in {where}; CI deploys it once the commit holding "
                "the update is pushed (git push, or git.push: true), then the next publish records it delivered",
            )
        if isinstance(deploy, GitDeploy):
            how = f"pushed to branch {deploy.git.branch} of {deploy.git.remote}"
            if not self._deployed:
                deploy_to_branch(self.repo.root, output, deploy.git.remote, deploy.git.branch)
        else:
            how = "deployed by channels.statuspage.deploy.command"
            if not self._deployed:
                run_deploy_command(self.repo.root, output, deploy.command)
        self._deployed = True
        return Sent(ref=ref, note=f"statuspage: the site was built in {where} and {how}")

    def find_sent(self, incident: Incident, timeline_index: int, message: Message) -> Sent | None:
        return None  # rebuilding and deploying are idempotent: sending again is always safe

    def finish(self, incident: Incident, latest: Message | None) -> None:
        return None


def _git(root: Path, *args: str, env: dict[str, str] | None = None, check: bool = True) -> str:
    result = subprocess.run(
        ["git", *args],
        cwd=root,
        capture_output=True,
        text=True,
        env=env,
        timeout=DEPLOY_TIMEOUT_SECONDS,
        check=False,
    )
    if check and result.returncode != 0:
        detail = " ".join((result.stderr or result.stdout).split())[-300:]
        raise SendError(f"statuspage: git {args[0]} failed: {detail}", fatal=True)
    return result.stdout.strip() if result.returncode == 0 else ""


def deploy_to_branch(root: Path, output: Path, remote: str, branch: str) -> str:
    """Commit ``output`` as the whole tree of ``branch`` (on top of the remote's branch when it has one)
    and push it. Plumbing only: a temporary index, no checkout; the working tree and HEAD stay as they are.
    Returns the commit pushed (or the remote's, when the site did not change)."""
    from .. import gitops

    _git(root, "fetch", "--quiet", remote, f"+refs/heads/{branch}:refs/incidentctl/site/{branch}", check=False)
    parent = _git(root, "rev-parse", "--verify", "--quiet", f"refs/incidentctl/site/{branch}^{{commit}}", check=False)
    with tempfile.TemporaryDirectory(prefix="incidentctl-site-index-") as scratch:
        env = {**os.environ, "GIT_INDEX_FILE": str(Path(scratch) / "index")}
        work = ["--work-tree", str(output.resolve())]
        _git(root, *work, "add", "--all", "--force", ".", env=env)
        tree = _git(root, "write-tree", env=env)
    if parent and _git(root, "rev-parse", f"{parent}^{{tree}}") == tree:
        return parent  # already deployed: this exact site is on the branch
    identity = gitops.identity_args(gitops.git_repo(root))
    commit = _git(
        root, *identity, "commit-tree", tree, *(["-p", parent] if parent else []), "-m", "incidentctl: status page"
    )
    _git(root, "push", "--quiet", remote, f"{commit}:refs/heads/{branch}")
    _git(root, "update-ref", f"refs/incidentctl/site/{branch}", commit, check=False)
    return commit


def run_deploy_command(root: Path, output: Path, command: str) -> None:
    """Run ``command`` in a shell in the repo with ``$INCIDENTCTL_SITE`` set; a non-zero exit is a failure."""
    env = {**os.environ, "INCIDENTCTL_SITE": str(output.resolve())}
    try:
        result = subprocess.run(  # noqa: S602 - the user's own deploy command, from their config
            command, shell=True, cwd=root, env=env, capture_output=True, text=True, timeout=DEPLOY_TIMEOUT_SECONDS
        )
    except subprocess.TimeoutExpired:
        raise SendError(f"statuspage: the deploy command ran over {DEPLOY_TIMEOUT_SECONDS:.0f}s", fatal=True) from None
    if result.returncode != 0:
        detail = " ".join((result.stderr or result.stdout).split())[-300:]
        raise SendError(f"statuspage: the deploy command exited {result.returncode}: {detail}", fatal=True)


def _stamp(value: Any) -> str | None:
    from ..durations import isoformat_z

    if isinstance(value, datetime):
        return isoformat_z(value)
    if isinstance(value, str):
        try:
            return isoformat_z(datetime.fromisoformat(value.replace("Z", "+00:00")))
        except ValueError:
            return None
    return None


def entry_is_pushed(repo: Repo, incident: Incident, timeline_index: int) -> bool:
    """``deploy: ci``: is the entry in the remote's copy of the current branch (the commit holding it pushed)?"""
    from ..durations import isoformat_z
    from ..records.codec import fast_load

    branch = _git(repo.root, "symbolic-ref", "--quiet", "--short", "HEAD", check=False)
    if not branch:
        return False
    remote = repo.config.git.remote
    rel = f"incidents/{incident.id}.yaml"
    text = _git(repo.root, "show", f"refs/remotes/{remote}/{branch}:{rel}", check=False)
    if not text:
        return False
    try:
        data = fast_load(text, rel)
    except Exception:  # noqa: BLE001 - an unreadable remote copy is simply "not there yet"
        return False
    timeline = data.get("timeline") if isinstance(data, dict) else None
    if not isinstance(timeline, list):
        return False
    wanted = isoformat_z(incident.timeline[timeline_index].at)
    return any(isinstance(entry, dict) and _stamp(entry.get("at")) == wanted for entry in timeline)
