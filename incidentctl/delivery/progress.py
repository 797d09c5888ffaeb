"""Per-recipient progress within one entry (webhook subscribers, email recipients), kept so that a run
killed half-way through an entry's recipients never sends to those it reached.

Every recipient reached is appended at once to a journal in the repo's cache folder
(``.git/incidentctl/progress.jsonl``, never tracked): one short line, O(1) whatever the number of
recipients (rewriting the record per recipient would cost a YAML dump each). The next run folds the
journal into the entry's delivery ``refs`` before it sends, and the end of a run (every reached
recipient then being in the records) empties it. A line survives a SIGKILL of the writer (it is in
the kernel's page cache once written).
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

from ..records.cache import cache_dir

FILE_NAME = "progress.jsonl"


class ProgressJournal:
    """The recipients reached per (incident, entry stamp, channel), appended as they are reached."""

    def __init__(self, root: Path) -> None:
        self.path = cache_dir(root) / FILE_NAME
        self._lock = threading.Lock()
        self._written: dict[tuple[str, str, str], set[str]] = {}

    def record(self, incident_id: str, stamp: str, channel: str, refs: list[str]) -> None:
        """Append the refs of ``refs`` not yet journaled for this entry and channel."""
        key = (incident_id, stamp, channel)
        with self._lock:
            written = self._written.setdefault(key, set())
            new = [ref for ref in refs if ref not in written]
            if not new:
                return
            lines = "".join(
                json.dumps({"incident": incident_id, "entry": stamp, "channel": channel, "ref": ref}) + "\n"
                for ref in new
            )
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, lines.encode("utf-8"))
            finally:
                os.close(fd)
            written.update(new)

    def reached(self) -> dict[tuple[str, str, str], list[str]]:
        """Every journaled ref by (incident, entry stamp, channel); a torn last line is ignored."""
        found: dict[tuple[str, str, str], list[str]] = {}
        try:
            text = self.path.read_text(encoding="utf-8")
        except (FileNotFoundError, UnicodeDecodeError):
            return found
        except OSError:
            return found
        for line in text.splitlines():
            try:
                item = json.loads(line)
                key = (str(item["incident"]), str(item["entry"]), str(item["channel"]))
                ref = str(item["ref"])
            except (ValueError, KeyError, TypeError):
                continue
            refs = found.setdefault(key, [])
            if ref not in refs:
                refs.append(ref)
        return found

    def clear(self) -> None:
        """Forget everything: called once the run's deliveries (and so every reached ref) are in the records."""
        with self._lock:
            self._written.clear()
            try:
                self.path.unlink()
            except FileNotFoundError:
                pass
