"""``preview`` and the workflows ``init`` writes for review: the pull-request workflow lints and keeps ONE
comment with the preview up to date; ``publish.yml`` publishes what reached the default branch; ``init
--reviewers`` writes CODEOWNERS. Real repos; the workflow steps run in bash in a clone (a stand-in ``gh``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

import incidentctl
from incidentctl.scaffold import PREVIEW_MARKER
from testing import FakeSlack, git, make_repo

FAKE_GH = """#!/bin/sh
# A stand-in for the GitHub CLI: remembers one comment in $GH_STATE and logs every call.
echo "$*" >> "$GH_STATE.log"
case "$*" in
  *"--jq"*) if [ -f "$GH_STATE" ]; then echo 4242; fi ;;
  *"-X POST"*) cp comment.md "$GH_STATE" ;;
  *"-X PATCH"*"comments/4242"*) cp comment.md "$GH_STATE" ;;
  *) echo "unexpected gh call: $*" >&2; exit 1 ;;
esac
"""


def _steps(path: Path) -> list[dict[str, Any]]:
    data: Any = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    return [step for job in data["jobs"].values() for step in job["steps"] if "run" in step]


def _bash(script: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", script], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )


def test_preview_lists_only_public_entries_added_since_the_base(tmp_path: Path, cli: Any) -> None:
    repo = make_repo(tmp_path / "r")
    opened = cli("new", "API down", "--severity", "sev2", "-m", "Looking.", repo=repo.root)
    incident_id = opened.stdout.strip()
    base = git(repo.root, "rev-parse", "HEAD").strip()
    assert cli("update", incident_id, "-m", "secret db detail", "--internal", repo=repo.root).exit_code == 0
    assert cli("update", incident_id, "-m", "Found the cause.", repo=repo.root).exit_code == 0

    data = json.loads(cli("preview", "--base", base, "--json", repo=repo.root).stdout)
    assert {item["channel"] for item in data["previews"]} == set(repo.config.configured_channels())
    assert all("secret" not in json.dumps(item) for item in data["previews"])
    assert {item["kind"] for item in data["previews"] if item["channel"] == "x"} == {"reply"}
    assert len([item for item in data["previews"] if item["channel"] == "x"]) == 1

    text = cli("preview", "--base", base, "--channel", "slack", repo=repo.root)
    assert text.exit_code == 0 and "Found the cause." in text.stdout and "[slack, thread reply]" in text.stdout
    assert '"type": "section"' not in text.stdout  # readable, not Block Kit
    assert "nothing to publish" in cli("preview", "--base", "HEAD", repo=repo.root).stdout
    bad = cli("preview", "--base", "no-such-ref", repo=repo.root)
    assert bad.exit_code == 1 and "no-such-ref" in bad.stderr and "Traceback" not in bad.output


def test_init_writes_the_review_workflows_and_codeowners(tmp_path: Path, cli: Any) -> None:
    target = tmp_path / "r"
    assert cli("init", str(target), "--org", "Acme", "--reviewers", "@acme/comms").exit_code == 0
    assert (target / ".github/CODEOWNERS").read_text().splitlines()[-1] == "/incidents/ @acme/comms"
    publish = YAML(typ="safe").load((target / ".github/workflows/publish.yml").read_text())
    assert publish["on"]["push"]["branches"] == ["main"]
    (job,) = publish["jobs"].values()
    assert job["environment"]["name"] == "incidents"
    (script,) = [step for step in job["steps"] if "run" in step and "publish" in step["run"]]
    assert script["run"].index("tick --publish") < script["run"].index("incidentctl publish ")
    assert script["env"]["SLACK_BOT_TOKEN"] == "${{ secrets.SLACK_BOT_TOKEN }}"
    preview_runs = [step["run"] for step in _steps(target / ".github/workflows/preview.yml")]
    assert "incidentctl lint" in preview_runs and any("preview --base" in run for run in preview_runs)
    reminders = (target / ".github/workflows/incident-reminders.yml").read_text()
    assert "incidentctl tick --publish" in reminders and "incidentctl remind --notify" in reminders
    assert not (tmp_path / "plain").exists()
    assert cli("init", str(tmp_path / "plain"), "--org", "Acme").exit_code == 0
    assert not (tmp_path / "plain" / ".github/CODEOWNERS").exists()


def test_workflows_preview_a_proposal_in_one_comment_then_publish_it_once(tmp_path: Path, cli: Any) -> None:
    source = tmp_path / "source"
    assert cli("init", str(source), "--org", "Acme", "--url", "https://status.acme.test").exit_code == 0
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(source, "push", "-q", str(remote), "HEAD:refs/heads/main")
    git(remote, "symbolic-ref", "HEAD", "refs/heads/main")
    alice = tmp_path / "alice"
    git(tmp_path, "clone", "-q", str(remote), str(alice))
    opened = cli("new", "API down", "--severity", "sev2", "-m", "Looking.", repo=alice)
    incident_id = opened.stdout.strip()
    git(alice, "push", "-q", "origin", "main")
    proposed = cli("update", incident_id, "-m", "Found the cause.", "--propose", repo=alice)
    assert proposed.exit_code == 0, proposed.output
    branch = proposed.stdout.strip().splitlines()[-1]

    # The pull request's checkout: the proposal merged into main (what actions/checkout gives).
    pr = tmp_path / "pr"
    git(tmp_path, "clone", "-q", str(remote), str(pr))
    git(pr, "merge", "-q", "--no-ff", "-m", "Merge proposal", f"origin/{branch}")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "gh").write_text(FAKE_GH)
    (bin_dir / "gh").chmod(0o755)
    (bin_dir / "pip").write_text("#!/bin/sh\nexit 0\n")  # the install step: this checkout stands in
    (bin_dir / "pip").chmod(0o755)
    state = tmp_path / "comment"
    slack = FakeSlack().__enter__()
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "GH_STATE": str(state),
        "GITHUB_REPOSITORY": "acme/status",
        "PR": "7",
        "BASE_REF": "main",
        "SLACK_BOT_TOKEN": slack.token,
        "INCIDENTCTL_SLACK_API_URL": slack.url,
    }
    env.pop("INCIDENTCTL_REPO", None)
    try:
        for _push in range(2):  # two pushes to the pull request: one comment, updated
            for step in _steps(pr / ".github/workflows/preview.yml"):
                result = _bash(
                    step["run"],
                    pr,
                    {**env, **{k: str(v) for k, v in (step.get("env") or {}).items() if "${{" not in str(v)}},
                )
                assert result.returncode == 0, f"{step['run']}\n{result.stdout}\n{result.stderr}"
        calls = (tmp_path / "comment.log").read_text().splitlines()
        assert [call.split()[2] for call in calls if "-X" in call] == ["POST", "PATCH"]
        comment = state.read_text()
        assert comment.startswith(PREVIEW_MARKER) and "Found the cause." in comment
        assert slack.messages == []  # a preview sends nothing

        # Merged: the publish workflow on main sends it; run twice, sent once.
        git(pr, "push", "-q", "origin", "HEAD:main")
        main = tmp_path / "main"
        git(tmp_path, "clone", "-q", str(remote), str(main))
        publish_env = {**env, "X_API_KEY": ""}
        for _run in range(2):
            git(main, "pull", "-q", "--rebase")
            for step in _steps(main / ".github/workflows/publish.yml"):
                result = _bash(step["run"], main, publish_env)
                # x is configured without its secrets in this test: named, exit 3; Slack still goes out.
                assert result.returncode in (0, 3), f"{result.stdout}\n{result.stderr}"
        found = [m for m in slack.messages if "Found the cause." in (m.get("text") or "") and m.get("thread_ts")]
        assert len(found) == 1
    finally:
        slack.__exit__(None, None, None)
    assert incidentctl.__version__
