"""Discord, Teams, Mastodon and Bluesky are built in: `channels: {discord: {}}` works through a real
`python -m incidentctl publish` process, with nothing registered by the test."""

from __future__ import annotations

import json
from pathlib import Path

from incidentctl.channels import channel_names
from testing import run_subprocess
from testing.channel_repos import channel_repo, three_entries
from testing.fakes.fake_bluesky import FakeBluesky
from testing.fakes.fake_discord import FakeDiscord
from testing.fakes.fake_mastodon import FakeMastodon
from testing.fakes.fake_teams import FakeTeams


def test_the_new_channels_are_known() -> None:
    assert {"discord", "teams", "mastodon", "bluesky"} <= set(channel_names())


def test_publish_process_sends_to_all_three(tmp_path: Path) -> None:
    with FakeDiscord(forum=True) as discord, FakeTeams() as teams, FakeMastodon() as mastodon:
        repo = channel_repo(
            tmp_path / "status",
            f"discord: {{}}\n  teams: {{}}\n  mastodon: {{instance: {mastodon.url}}}",
            status_url=False,
        )
        incident_id = three_entries(repo)
        env = {
            "DISCORD_WEBHOOK_URL": discord.url,
            "TEAMS_WEBHOOK_URL": teams.url,
            "MASTODON_ACCESS_TOKEN": mastodon.token,
        }
        result = run_subprocess("--repo", str(repo.root), "publish", incident_id, "--json", env=env)
        assert result.returncode == 0, result.stdout + result.stderr
        report = json.loads(result.stdout)
        assert report["failed"] == 0
        assert {(d["channel"], d["state"]) for d in report["deliveries"]} == {
            ("discord", "delivered"),
            ("teams", "delivered"),
            ("mastodon", "delivered"),
        }
        assert len(discord.messages) == 3 and len(teams.posts) == 3 and len(mastodon.statuses) == 3
        for secret in (discord.token, teams.sig, mastodon.token):
            assert secret not in result.stdout + result.stderr


def test_publish_process_sends_to_bluesky_through_the_sdk(tmp_path: Path) -> None:
    with FakeBluesky() as pds:
        repo = channel_repo(
            tmp_path / "status", f"bluesky: {{handle: {pds.account}, service: {pds.url}}}", status_url=False
        )
        incident_id = three_entries(repo)
        env = {"BLUESKY_APP_PASSWORD": pds.password}
        result = run_subprocess("--repo", str(repo.root), "publish", incident_id, "--json", env=env)
        assert result.returncode == 0, result.stdout + result.stderr
        report = json.loads(result.stdout)
        assert report["failed"] == 0 and len(pds.posts()) == 3
        assert [r["method"] for r in pds.requests].count("com.atproto.server.createSession") == 1  # one session
        assert all(r["headers"].get("user-agent", "").startswith("atproto/") for r in pds.requests)  # the SDK
        for secret in (pds.password, pds.jwt, pds.refresh_jwt):
            assert secret not in result.stdout + result.stderr
