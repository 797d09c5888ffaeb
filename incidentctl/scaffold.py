"""``incidentctl init``: a ready incident repo with a commented config and a first commit."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

from .config import CONFIG_FILE, parse_config
from .errors import ConfigError, UsageError
from .model import ID_PATTERN
from .records.codec import atomic_write

GITIGNORE = """\
# incidentctl: the built status page and caches are generated, never committed.
/site/
/.incidentctl-cache/
__pycache__/
"""

TEMPLATES_README = """\
# Templates

incidentctl renders every message from Jinja templates. The packaged defaults are used unless a
file of the same name is here: copy one from the packaged `templates/` folder
(`python -c "import incidentctl.render as r; print(r.packaged_templates())"` prints where) and edit it.

| file | what it renders |
| --- | --- |
| `x.txt.j2` | a post on X (plain text; long text becomes a numbered thread) |
| `slack.json.j2` | a Slack message (Block Kit JSON) |
| `site/*.html.j2` | the status page |
| `postmortem.md.j2` | the postmortem (Markdown) |
| `holding.txt.j2` | the text of an automatic holding update (`holding_update` in a severity) |

Templates run in Jinja's sandbox with `StrictUndefined`: a misspelt variable is an error, never an
empty string. Filters: `duration` (`4h 38m`), `localtime` (the configured time zone), `offsettime`,
`iso`, `mrkdwn` (Slack escaping), `status_label`, `impact_label`. `incidentctl lint` renders every
template against the records and reports problems as `path:line: message`.
"""

SITE_WORKFLOW = """\
# Written by `incidentctl init`: lint on every pull request, build and deploy the status page on
# every push to main. Enable Pages with "GitHub Actions" as the source in the repo settings.
name: status-page
on:
  push: {branches: [main]}
  pull_request:
  workflow_dispatch:
permissions: {contents: read, pages: write, id-token: write}
concurrency: {group: status-page, cancel-in-progress: false}
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with: {python-version: "3.11"}
      # incidentctl @@VERSION@@, pinned: the version that wrote this workflow, from where your organisation
      # keeps incidentctl (`incidentctl init --install-from URL`; YOUR-ORG is a placeholder to replace).
      - run: pip install "incidentctl @ git+@@INSTALL_FROM@@@v@@VERSION@@"
      - run: incidentctl lint
      - run: incidentctl site build --output site
      - if: github.event_name != 'pull_request'
        uses: actions/upload-pages-artifact@v3
        with: {path: site}
  deploy:
    if: github.event_name != 'pull_request'
    needs: build
    runs-on: ubuntu-latest
    environment: {name: github-pages}
    steps:
      - uses: actions/deploy-pages@v4
"""

REMIND_WORKFLOW = """\
# Written by `incidentctl init`: every 10 minutes, apply what is due (`tick --publish`: maintenance
# starts and completions, holding updates when a promised update is late) and post a reminder to the
# incident's Slack thread when a promised update is due. Set the channel secrets in the repo's Actions
# secrets (a configured channel without them is named and fails the run).
name: incident-reminders
on:
  schedule: [{cron: "*/10 * * * *"}]
  workflow_dispatch:
permissions: {contents: write}
concurrency: {group: incident-reminders, cancel-in-progress: false}
jobs:
  remind:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with: {python-version: "3.11"}
      # incidentctl @@VERSION@@, pinned: the version that wrote this workflow, from where your organisation
      # keeps incidentctl (`incidentctl init --install-from URL`; YOUR-ORG is a placeholder to replace).
      - run: pip install "incidentctl @ git+@@INSTALL_FROM@@@v@@VERSION@@"
      - run: |
          git config user.name incidentctl
          git config user.email incidentctl@users.noreply.github.com
          status=0
          incidentctl tick --publish || status=$?
          incidentctl remind --notify || status=$?
          # keep the record of what was posted, so the next run does not post it again
          git pull --rebase --quiet && git push --quiet || echo "::warning::could not push the reminder record"
          exit $status
        env:
@@SECRETS@@
"""

PUBLISH_WORKFLOW = """\
# Written by `incidentctl init`: on every push to main (a merged `--propose` branch: the approval), publish
# what is not yet published (`tick --publish` first: what is due). The job runs in the `incidents`
# environment: put the channel secrets there as environment secrets, and add required reviewers to it
# to gate every publication (Settings > Environments). See "Review" in the README.
name: incident-publish
on:
  push: {branches: [main]}
  workflow_dispatch:
permissions: {contents: write}
concurrency: {group: incident-publish, cancel-in-progress: false}
jobs:
  publish:
    runs-on: ubuntu-latest
    environment: {name: incidents}
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with: {python-version: "3.11"}
      # incidentctl @@VERSION@@, pinned: the version that wrote this workflow, from where your organisation
      # keeps incidentctl (`incidentctl init --install-from URL`; YOUR-ORG is a placeholder to replace).
      - run: pip install "incidentctl @ git+@@INSTALL_FROM@@@v@@VERSION@@"
      - run: |
          git config user.name incidentctl
          git config user.email incidentctl@users.noreply.github.com
          status=0
          incidentctl tick --publish || status=$?
          incidentctl publish || status=$?
          # keep the delivery records, so nothing is ever sent twice
          git pull --rebase --quiet && git push --quiet || echo "::warning::could not push the delivery records"
          exit $status
        env:
@@SECRETS@@
"""

#: The marker that finds the preview comment again, so each push updates it instead of adding one.
PREVIEW_MARKER = "<!-- incidentctl-preview -->"

PREVIEW_WORKFLOW = """\
# Written by `incidentctl init`: on every pull request (e.g. a `--propose` branch), check the records and
# post what merging it would publish on each channel, as ONE comment updated on every push.
name: incident-preview
on:
  pull_request:
permissions: {contents: read, pull-requests: write}
concurrency: {group: "incident-preview-${{ github.event.pull_request.number }}", cancel-in-progress: true}
jobs:
  preview:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
        with: {fetch-depth: 0}
      - uses: actions/setup-python@v5
        with: {python-version: "3.11"}
      # incidentctl @@VERSION@@, pinned: the version that wrote this workflow, from where your organisation
      # keeps incidentctl (`incidentctl init --install-from URL`; YOUR-ORG is a placeholder to replace).
      - run: pip install "incidentctl @ git+@@INSTALL_FROM@@@v@@VERSION@@"
      - run: incidentctl lint
      - run: incidentctl preview --base "origin/$BASE_REF" > preview.txt
        env:
          BASE_REF: ${{ github.base_ref }}
      - run: |
          marker='@@MARKER@@'
          {
            echo "$marker"
            echo "### What merging this pull request publishes"
            echo
            echo '````text'
            cat preview.txt
            echo '````'
          } > comment.md
          id="$(gh api "repos/$GITHUB_REPOSITORY/issues/$PR/comments" --paginate \\
            --jq ".[] | select(.body | startswith(\\"$marker\\")) | .id" | head -n 1)"
          if [ -n "$id" ]; then
            gh api -X PATCH "repos/$GITHUB_REPOSITORY/issues/comments/$id" -F body=@comment.md > /dev/null
          else
            gh api -X POST "repos/$GITHUB_REPOSITORY/issues/$PR/comments" -F body=@comment.md > /dev/null
          fi
        env:
          GH_TOKEN: ${{ github.token }}
          PR: ${{ github.event.pull_request.number }}
"""

#: Secrets the workflows hand to incidentctl (environment variables of the built-in channels; file paths
#: such as the subscriber lists are left to the user).
WORKFLOW_SECRETS = (
    "SLACK_BOT_TOKEN",
    "X_API_KEY",
    "X_API_SECRET",
    "X_ACCESS_TOKEN",
    "X_ACCESS_TOKEN_SECRET",
    "MASTODON_ACCESS_TOKEN",
    "BLUESKY_APP_PASSWORD",
    "DISCORD_WEBHOOK_URL",
    "TEAMS_WEBHOOK_URL",
    "STATUSPAGE_API_KEY",
    "INCIDENTCTL_SMTP_URL",
)


def _secrets_block(indent: int = 10) -> str:
    pad = " " * indent
    return "\n".join(f"{pad}{name}: ${{{{ secrets.{name} }}}}" for name in WORKFLOW_SECRETS)


def codeowners_text(reviewers: Sequence[str]) -> str:
    """``.github/CODEOWNERS``: the reviewers own ``incidents/`` (with branch protection, their approval is required)."""
    owners = []
    for value in reviewers:
        for word in value.replace(",", " ").split():
            owner = word if word.startswith("@") or "@" in word else f"@{word}"
            if not re.fullmatch(r"@?[A-Za-z0-9][A-Za-z0-9._/-]*|[^@\s]+@[^@\s]+", owner):
                raise UsageError(f"--reviewers {value!r}: give a team (@org/team), a user (@name) or an email")
            owners.append(owner)
    if not owners:
        raise UsageError("--reviewers: give a team, e.g. @acme/comms")
    return (
        "# Written by `incidentctl init --reviewers`: public statements (incidents/) need an approval from these\n"
        "# owners before they reach the default branch, once branch protection requires code-owner reviews.\n"
        f"/incidents/ {' '.join(dict.fromkeys(owners))}\n"
    )


GITATTRIBUTES = "incidents/*.yaml merge=incidentctl\n"

#: Where the workflows install incidentctl from unless ``init --install-from URL`` says otherwise
#: (documented in the README): a placeholder the user replaces with their fork or mirror.
DEFAULT_INSTALL_FROM = "https://github.com/YOUR-ORG/incidentctl"


def install_spec(install_from: str = DEFAULT_INSTALL_FROM, version: str | None = None) -> str:
    """The pip requirement the workflows install: this incidentctl's version, pinned, from a git URL."""
    from . import __version__

    return f"incidentctl @ git+{install_from.rstrip('/')}@v{version or __version__}"


def workflow_text(template: str, install_from: str = DEFAULT_INSTALL_FROM) -> str:
    """A workflow with its install line pinned to this version of incidentctl from ``install_from``."""
    from . import __version__

    if "\n" in install_from or '"' in install_from or not install_from.strip():
        raise UsageError(f"--install-from {install_from!r}: give a git URL, e.g. {DEFAULT_INSTALL_FROM}")
    return (
        template.replace("@@INSTALL_FROM@@", install_from.strip().rstrip("/"))
        .replace("@@VERSION@@", __version__)
        .replace("@@SECRETS@@", _secrets_block())
        .replace("@@MARKER@@", PREVIEW_MARKER)
    )


def _yaml_text(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def config_text(
    organization: str, components: Sequence[tuple[str, str]], timezone: str = "UTC", url: str | None = None
) -> str:
    """The commented ``incidentctl.yaml``: every option shown with its default."""
    if components:
        component_lines = "\n".join(f"  - {{id: {cid}, name: {_yaml_text(name)}}}" for cid, name in components)
    else:
        component_lines = "  - {id: api, name: API}"
    title = _yaml_text(organization + " Status")
    if url:
        statuspage = f"  statuspage: {{output: site, url: {_yaml_text(url)}, title: {title}}}"
    else:
        statuspage = (
            "  # url: the page's public address (https://status.example.com): the API and feed need it for links\n"
            f"  statuspage: {{output: site, title: {title}}}"
        )
    return f"""\
# incidentctl configuration. Every key except `organization` is optional; the values shown
# are the defaults. Secrets never go here: they come from the environment (see the README).
organization: {_yaml_text(organization)}

# IANA time zone used to display times (storage is always UTC), e.g. America/New_York.
timezone: {timezone}

# What your users see on the status page. `group` (optional) groups components on the page;
# `description` (optional) explains the component.
components:
{component_lines}

# Severity id -> name, how often a public update is due while the incident is open, whether a
# postmortem is required, and when it is due after resolution (3d = days, 5bd = business days).
severities:
  sev1: {{name: Critical, update_every: 30m, postmortem_required: true, postmortem_due: 3d}}
  sev2: {{name: Major, update_every: 60m, postmortem_required: true, postmortem_due: 5bd}}
  sev3: {{name: Minor, update_every: 4h, postmortem_required: false}}

# Publishing targets. A channel is enabled when it is listed here and, for Slack and X, its
# secrets are set in the environment (SLACK_BOT_TOKEN; X_API_KEY, X_API_SECRET, X_ACCESS_TOKEN,
# X_ACCESS_TOKEN_SECRET). Remove a channel's line to disable it.
channels:
  slack: {{channel: "#incidents"}}     # mention: "<!subteam^S0123>" pings a group in reminders
  x: {{}}
{statuspage}
  # Who makes the built page public (until set, published updates stay `built`, not `delivered`):
  #   deploy: ci                                       the status-page workflow deploys every push
  #   deploy: {{git: {{remote: origin, branch: gh-pages}}}}  commit the site to that branch and push it
  #   deploy: {{command: "rsync -a $INCIDENTCTL_SITE/ web:/srv/status/"}}

# Commit every change (one commit per change); push after each commit when push is true.
git: {{commit: true, push: false, remote: origin}}
"""


def parse_components(values: Sequence[str]) -> list[tuple[str, str]]:
    """``["api:API", "web:Website", "db"]`` → ``[("api", "API"), ("web", "Website"), ("db", "db")]``."""
    parsed = []
    for value in values:
        cid, _, name = value.partition(":")
        cid = cid.strip()
        if not ID_PATTERN.match(cid):
            raise UsageError(f"--component {value!r}: the id must be lowercase letters, digits and '-' (e.g. api:API)")
        parsed.append((cid, name.strip() or cid))
    return parsed


def init_repo(
    path: Path,
    organization: str,
    components: Sequence[tuple[str, str]],
    timezone: str = "UTC",
    *,
    commit: bool = True,
    url: str | None = None,
    install_from: str = DEFAULT_INSTALL_FROM,
    reviewers: Sequence[str] = (),
) -> list[Path]:
    """Create (or extend) ``path`` as an incident repo. Refuses if it already is one.

    ``reviewers``: write ``.github/CODEOWNERS`` making them the owners of ``incidents/``."""
    from . import gitops

    path = path.expanduser()
    if (path / CONFIG_FILE).exists():
        raise ConfigError(f"{path / CONFIG_FILE} already exists: {path} is already an incident repo")
    if path.exists() and not path.is_dir():
        raise UsageError(f"{path} exists and is not a folder")
    if url is not None and not url.startswith(("https://", "http://")):
        raise UsageError(f"--url {url!r}: give the page's public address, e.g. https://status.example.com")
    text = config_text(organization, components, timezone, url or None)
    parse_config(text, CONFIG_FILE)  # the template must always produce a valid config
    path.mkdir(parents=True, exist_ok=True)
    root = path.resolve()
    files = {
        CONFIG_FILE: text,
        "incidents/.gitkeep": "",
        "templates/README.md": TEMPLATES_README,
        ".github/workflows/status-page.yml": workflow_text(SITE_WORKFLOW, install_from),
        ".github/workflows/incident-reminders.yml": workflow_text(REMIND_WORKFLOW, install_from),
        ".github/workflows/publish.yml": workflow_text(PUBLISH_WORKFLOW, install_from),
        ".github/workflows/preview.yml": workflow_text(PREVIEW_WORKFLOW, install_from),
    }
    if reviewers:
        files[".github/CODEOWNERS"] = codeowners_text(reviewers)
    written = []
    for rel, content in files.items():
        target = root / rel
        if not target.exists():
            atomic_write(target, content)
            written.append(target)
    written.append(_append_line_file(root / ".gitignore", GITIGNORE))
    written.append(_append_line_file(root / ".gitattributes", GITATTRIBUTES))
    if commit:
        gitops.init_repo(root)
        register_merge_driver(root)
        gitops.commit(root, written, "incidentctl: initialise incident repo")
    return written


def register_merge_driver(root: Path) -> None:
    """Register ``incidentctl merge-driver`` in the repo's git config (absolute interpreter path)."""
    from .gitops import register_merge_driver as register

    register(root)


def _append_line_file(path: Path, content: str) -> Path:
    """Create ``path`` with ``content`` or add the lines it lacks (an existing .gitignore is kept)."""
    if path.exists():
        existing = path.read_text(encoding="utf-8")
        missing = [line for line in content.splitlines() if line and line not in existing.splitlines()]
        if missing:
            atomic_write(path, existing.rstrip("\n") + "\n" + "\n".join(missing) + "\n")
    else:
        atomic_write(path, content)
    return path
