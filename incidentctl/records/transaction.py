"""THE write transaction: every change to a record goes through one.

Short form (one change, one commit)::

    with repo.transaction(f"{incident.id}: resolved") as tx:
        incident = tx.repo.load(incident_id)  # read under the lock, on the synced history
        tx.save(changed)
    tx.commit_sha, tx.push_error, tx.notes  # what happened (push_error: report, then exit 4)

Entering takes the per-repo ``flock`` (the OS releases it if the process dies), removes temp files
a killed run left, undoes a rebase an interrupted push left, and, when ``git.commit`` and
``git.push`` are on, catches up with the remote (fetch + rebase). A sync that fails does not stop
the write (the record is written locally and the push says what is wrong), but it is REPORTED:
``tx.sync_error`` and a line in ``tx.notes``.

:meth:`Transaction.save` validates every time: the model, then the read-back rule (what is written
must parse back, through THE record check, equal to what was saved); a record that does not is put
back as it was and :class:`RecordError` is raised.

Leaving without an exception commits every saved, not yet committed record with the message given
to :meth:`Repo.transaction` (``<id>: <what>``), then pushes once if anything was committed. A push
that keeps failing is not raised: it is kept in ``tx.push_error`` so the caller can report what was
done and then exit 4 (``PushError``). Leaving with an exception commits nothing.

Long-lived form (the publish delivery ledger)::

    with repo.transaction() as tx:  # no message: nothing is committed implicitly
        ...  # tx.save(incident) from several threads, many times per incident (thread-safe)
        for incident_id, message in done:
            tx.commit(message, [incident_id])  # one commit per incident, its own message
    # one push on exit for every commit made

``tx.commit(message, ids=None)`` commits the given incidents' records (default: every record saved
since the last commit) and returns the new commit's sha, or None when nothing changed.

Proposal form (``--propose``, SPEC "Review through git")::

    with repo.transaction(propose=True) as tx:
        incident = tx.repo.load(incident_id)  # tx.repo: the default branch's tip, not the checkout
        tx.message = f"{incident.id}: update"
        tx.save(changed)
    tx.branch, tx.proposal.compare_url  # propose/<id>/<n>, pushed when the remote exists

The records are read from and written to a scratch copy of the default branch's tip (fetched first
when the remote exists) inside the git dir; on leaving, the saved records are committed on a new
branch ``propose/<id>/<n>`` with git plumbing (see :mod:`incidentctl.propose`). The current branch,
index and working tree are never touched. A push that fails leaves the branch local (``push_error``).
"""

from __future__ import annotations

import fcntl
import os
import sys
import threading
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING

from .. import gitops
from ..errors import GitError, PushError, RecordError
from .cache import cache_dir
from .codec import atomic_write_bytes, remove_stale_temp_files
from .validate import check_bytes

if TYPE_CHECKING:
    from ..model import Incident
    from ..propose import Proposal
    from ..store import Repo


class Transaction:
    """One write under the repo lock; see the module docstring for the API."""

    def __init__(self, repo: Repo, message: str | None = None, *, propose: bool = False) -> None:
        self.repo = repo
        """The repo reads and writes go to: inside a ``propose`` transaction, a scratch copy of the default
        branch's records (read the record through ``tx.repo``, never the checkout)."""
        self.origin = repo
        """The checkout the command runs in (its lock, its git)."""
        self.message = message
        self.propose = propose
        self.branch: str | None = None
        """With ``propose``: the ``propose/<id>/<n>`` branch the change was committed on."""
        self.proposal: Proposal | None = None
        """With ``propose``: the branch, its commit, the remote it went to and the compare link."""
        self._base: tuple[str, str] | None = None
        self._scratch: Path | None = None
        self.sync_error: str | None = None
        self.push_error: PushError | None = None
        self.notes: list[str] = []
        self.commits: list[str] = []
        self.renamed: dict[str, str] = {}
        """Records renamed while pushing (``{old id: new id}``): the same id was added on both sides."""
        self._committed = False  # commit() ran in a git repo: push on exit (also sends older local commits)
        self.saved: list[Path] = []
        """Every record path saved, in order of first save."""
        self._uncommitted: list[Path] = []
        self._lock = threading.Lock()
        self._handle: IO[str] | None = None

    # -- entering and leaving ----------------------------------------------------------------------

    def __enter__(self) -> Transaction:
        repo = self.repo
        dirs = gitops.git_dirs(repo.root)  # in a linked worktree too: never a file left in the work tree
        lock_path = (dirs[0] if dirs else repo.root) / "incidentctl.lock"
        try:
            handle = open(lock_path, "a+")
        except OSError as exc:
            raise GitError(f"cannot create the lock file {lock_path}: {exc.strerror}") from None
        try:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                print("waiting for another incidentctl command in this repo to finish...", file=sys.stderr)
                fcntl.flock(handle, fcntl.LOCK_EX)
            self._handle = handle
            self._sweep(handle)
            if not self.propose:  # a proposal never touches the checkout, whatever state it is in
                gitops.recover_interrupted(repo.root)  # a push killed mid-rebase: undo it before reading
            settings = repo.config.git
            if self.propose:
                self._enter_proposal()
            elif settings.commit and settings.push:
                self.sync_error = gitops.sync(repo.root, settings.remote)  # write on the latest record
                if self.sync_error:
                    self.notes.append(f"could not catch up with {settings.remote} before writing: {self.sync_error}")
        except BaseException:
            self._release(handle)
            raise
        return self

    def _enter_proposal(self) -> None:
        """``propose``: read and write a scratch copy of the default branch's tip (fetched first), never the checkout."""
        from .. import propose
        from ..config import load_config
        from ..store import Repo

        origin = self.origin
        if not gitops.is_git_repo(origin.root) or not origin.config.git.commit:
            raise GitError("--propose needs a git repository with git.commit on (the proposal is a branch)")
        self._base = propose.base_commit(origin.root, origin.config.git.remote)
        self._scratch = propose.materialize(origin.root, self._base[1])
        try:
            config = load_config(self._scratch) if (self._scratch / "incidentctl.yaml").is_file() else origin.config
        except BaseException:
            self._drop_scratch()
            raise
        self.repo = Repo(root=self._scratch, config=config)

    def _commit_proposal(self) -> None:
        from .. import propose

        assert self._base is not None and self._scratch is not None
        scratch = self._scratch
        paths = list(dict.fromkeys(self.saved))
        if not paths:
            return
        files = {path.relative_to(scratch).as_posix(): path.read_bytes() for path in paths}
        incident_id = paths[0].stem
        message = self.message or f"{incident_id}: proposed change"
        origin = self.origin
        proposal = propose.commit_proposal(
            origin.root, incident_id, files, message, self._base[0], self._base[1], origin.config.git.remote
        )
        self.proposal = proposal
        self.branch = proposal.branch
        self.commits.append(proposal.commit)
        self.saved = [origin.root / rel for rel in files]
        self._uncommitted = []
        if proposal.push_error:
            self.push_error = PushError(proposal.push_error)

    def _drop_scratch(self) -> None:
        import shutil

        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        handle = self._handle
        if self.propose:
            try:
                if kind is None:
                    self._commit_proposal()
                    if handle is not None:
                        self._mark_clean(handle)
            finally:
                self._drop_scratch()
                self.repo = self.origin
                if handle is not None:
                    self._release(handle)
            return
        try:
            if kind is None:
                if self.message is not None and self._uncommitted:
                    self.commit(self.message)
                self._push()
                if handle is not None:
                    self._mark_clean(handle)
        finally:
            if handle is not None:
                self._release(handle)

    # -- temp files a killed run left ---------------------------------------------------------------
    #
    # Listing incidents/ costs 0.1-0.15 s at 100,000 records, so it is listed only when a temp file
    # can be there. The lock file (ours alone, under the flock) says how the last transaction ended:
    # ``dirty`` from entering until it left normally, then ``clean <incidents/ mtime in ns>``. A run
    # killed in between leaves ``dirty``; a temp file created since (by anything: an older
    # incidentctl, a crash after the stamp) changes the folder's mtime. Either way: a full sweep. The
    # root and the cache folder are small and always swept.

    def _sweep(self, handle: IO[str]) -> None:
        repo = self.origin
        handle.seek(0)
        stamp = handle.read(200).strip()
        folders = [repo.root, cache_dir(repo.root)]
        if stamp != self._clean_stamp():
            folders.insert(0, repo.incidents_dir)
        remove_stale_temp_files(*folders)
        self._write_state(handle, "dirty")

    def _clean_stamp(self) -> str:
        try:
            return f"clean {os.stat(self.origin.incidents_dir).st_mtime_ns}"
        except OSError:
            return "clean none"

    def _mark_clean(self, handle: IO[str]) -> None:
        """Left normally: every temp file of ours is renamed or removed (no sweep needed next time)."""
        self._write_state(handle, self._clean_stamp())

    @staticmethod
    def _write_state(handle: IO[str], state: str) -> None:
        try:
            handle.seek(0)
            handle.truncate()
            handle.write(state + "\n")
            handle.flush()  # no fsync: what a killed process wrote stays in the page cache
        except OSError:
            pass  # a read-only lock file: the next run sweeps everything, as before

    @staticmethod
    def _release(handle: IO[str]) -> None:
        try:
            fcntl.flock(handle, fcntl.LOCK_UN)
        finally:
            handle.close()

    # -- writing -----------------------------------------------------------------------------------

    def save(self, incident: Incident) -> Path:
        """Validate, write atomically and read back ``incident``'s record (thread-safe)."""
        from ..model import Incident

        if self._handle is None:
            raise RuntimeError("Transaction.save outside `with repo.transaction(...)`")
        from pydantic import ValidationError

        from ..model import RECORD_MAX_BYTES

        repo = self.repo
        try:
            Incident.model_validate(incident.model_dump(by_alias=True))  # the model's own rules, every time
        except ValidationError as exc:
            details = "; ".join(
                f"{'.'.join(str(p) for p in error['loc'])}: {error['msg']}" for error in exc.errors(include_url=False)
            )
            raise RecordError(f"{repo.relpath(repo.record_path(incident.id))}: not written: {details}") from None
        with self._lock:
            path = repo.record_path(incident.id)
            before = path.read_bytes() if path.exists() else None
            repo.save(incident)
            written = path.read_bytes()
            back, problems = check_bytes(written, repo.relpath(path), repo.config, incident.id)
            if len(written) > RECORD_MAX_BYTES:
                back, problems = None, [f"the record would be {len(written)} bytes; the limit is {RECORD_MAX_BYTES}"]
            if back is None or back.to_record() != incident.to_record():
                if before is None:
                    path.unlink(missing_ok=True)
                else:
                    atomic_write_bytes(path, before)
                detail = "; ".join(problems) or "it reads back different from what was saved"
                raise RecordError(f"{repo.relpath(path)}: not written: {detail}")
            self._track(path)
            return path

    def save_text(self, incident_id: str, text: str) -> Incident:
        """Write a record's text as is (``postmortem --init``'s commented placeholders); it must read
        back as a valid record with that id, else the old file is put back and :class:`RecordError` raised."""
        repo = self.repo
        if self._handle is None:
            raise RuntimeError("Transaction.save_text outside `with repo.transaction(...)`")
        with self._lock:
            path = repo.record_path(incident_id)
            before = path.read_bytes() if path.exists() else None
            atomic_write_bytes(path, text.encode("utf-8"))
            back, problems = check_bytes(path.read_bytes(), repo.relpath(path), repo.config, incident_id)
            if back is None:
                if before is None:
                    path.unlink(missing_ok=True)
                else:
                    atomic_write_bytes(path, before)
                raise RecordError(f"{repo.relpath(path)}: not written: {'; '.join(problems)}")
            self._track(path)
            return back

    def _track(self, path: Path) -> None:
        if path not in self.saved:
            self.saved.append(path)
        if path not in self._uncommitted:
            self._uncommitted.append(path)

    def commit(self, message: str, ids: Iterable[str] | None = None) -> str | None:
        """Commit the records of ``ids`` (default: every record saved and not yet committed) as ``message``.

        Returns the commit's sha (None: git.commit is off, no git, or nothing changed). Pushed on exit.
        """
        repo = self.repo
        if self.propose:
            return None  # a proposal is one commit, made on leaving the transaction
        with self._lock:
            wanted = self._uncommitted if ids is None else [repo.record_path(incident_id) for incident_id in ids]
            paths = list(wanted)
            self._uncommitted = [path for path in self._uncommitted if path not in paths]
        if not paths or not repo.config.git.commit:
            return None
        if not gitops.is_git_repo(repo.root):
            note = "not a git repository: the change is saved but not committed"
            if note not in self.notes:
                self.notes.append(note)
            return None
        self._committed = True
        sha = gitops.commit(repo.root, paths, message)
        if sha:
            self.commits.append(sha)
        return sha

    @property
    def commit_sha(self) -> str | None:
        """The last commit made (None: none)."""
        return self.commits[-1] if self.commits else None

    def _push(self) -> None:
        """Push once on exit: this transaction's commits, and any commit an earlier command left
        stranded (its push failed: exit 4), even when this one committed nothing."""
        settings = self.repo.config.git
        if not settings.push or not settings.commit:
            return
        if not self._committed and not gitops.ahead_of_remote(self.repo.root, settings.remote):
            return
        try:
            self.renamed.update(gitops.push(self.repo.root, settings.remote))
        except PushError as exc:
            self.push_error = exc
        for old_id, new_id in self.renamed.items():
            self.notes.append(
                f"another responder opened an incident with the id {old_id} at the same time: "
                f"this one was renamed to {new_id}"
            )
