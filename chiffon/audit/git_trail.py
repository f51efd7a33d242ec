"""The git audit trail: one directory per run, one commit per run milestone.

The repository (``CHIFFON_HOME/audit`` by default) is plain git, readable without Chiffon::

    README.md                         this layout, for whoever opens the repository
    runs/<YYYY-MM-DD>-<run id>/       one directory per run (the date is the run's, UTC)
        request.md                    the request as the human typed it, and who asked
        plan.json                     the approved (or last proposed) plan and its plan hash
        approval.json                 the decision: approver, channel, plan hash, expiry
        steps/<position>-<playbook>-a<attempt>.json
                                      one per step attempt: status, hosts, stats, failure
        summary.json                  the outcome: status, cost, timings

Each milestone (approved, rejected, expired, finished, interrupted) is one commit whose
message ends with trailers: ``Run-Id``, ``Status``, ``Services`` (comma-separated) and
``Milestone``, so ``git log --grep 'Services:.*grafana'`` or
``git log --format='%(trailers:key=Run-Id,valueonly)'`` answer questions without a database.

What goes into the files is the caller's: secret variable values must already be redacted
(``chiffon.audit.trail_files`` does it from the catalog's secret variable names). git is
driven through its command line; commits are serialized by an advisory lock on a file in the
repository (ignored by git), so several processes may share one trail.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import subprocess
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path, PurePosixPath
from typing import Any, Literal

import anyio
from pydantic import BaseModel

from chiffon.audit.errors import AuditUnavailable

Milestone = Literal["approved", "rejected", "expired", "finished", "interrupted"]
MILESTONES: tuple[Milestone, ...] = ("approved", "rejected", "expired", "finished", "interrupted")
FileContent = str | bytes | Mapping[str, Any]

AUTHOR_NAME = "Chiffon"
AUTHOR_EMAIL = "chiffon@localhost"
LOCK_FILE = ".chiffon-trail.lock"

README = """\
# Chiffon audit trail

Written by Chiffon: one directory per run, one commit per milestone of the run.

```
runs/<YYYY-MM-DD>-<run id>/
    request.md          the request, who asked, when
    plan.json           the plan and its plan hash (secret variable values redacted)
    approval.json       the decision: approver, channel, plan hash, expiry
    steps/<position>-<playbook>-a<attempt>.json
                        one per step attempt: status, hosts, per-host stats, failure
    summary.json        the outcome: status, cost, timings
```

Milestones are `approved`, `rejected`, `expired`, `finished` and `interrupted`. Every
commit message ends with trailers:

```
Run-Id: <run id>
Status: <run status>
Services: <service>, <service>
Milestone: <milestone>
```

Questions without a database:

```
git log --grep 'Services:.*grafana'                     # runs that touched grafana
git log --format='%h %(trailers:key=Run-Id,valueonly)'  # run id per commit
git log --grep 'Status: failed'                         # failed runs
```

The database (`chiffon audit runs|show|changes`) holds the complete record, including
every message and state transition; this repository is its readable, diffable summary.
"""

GITIGNORE = f"/{LOCK_FILE}\n"

_LOCK_POLL_S = 0.02


class TrailCommit(BaseModel):
    """One milestone commit of the trail, read back from ``git log``."""

    sha: str
    run_id: uuid.UUID
    milestone: str
    status: str
    services: tuple[str, ...]
    subject: str
    committed_at: dt.datetime


def step_file(position: int, playbook: str, attempt: int) -> str:
    """The path of a step attempt's file inside a run directory: ``steps/01-grafana-a1.json``."""
    return f"steps/{position:02d}-{playbook}-a{attempt}.json"


def _json_default(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, uuid.UUID | Path):
        return str(value)
    if isinstance(value, set | frozenset):
        return sorted(value)
    raise TypeError(f"cannot write a {type(value).__name__} into the audit trail")


def _bytes(content: FileContent) -> bytes:
    if isinstance(content, bytes):
        return content
    if isinstance(content, str):
        return content.encode()
    text = json.dumps(content, indent=2, sort_keys=True, ensure_ascii=False, default=_json_default)
    return (text + "\n").encode()


def _relative(name: str) -> PurePosixPath:
    path = PurePosixPath(name)
    if not name or path.is_absolute() or any(part in ("", ".", "..") for part in path.parts):
        raise ValueError(f"{name!r} is not a path inside a run directory")
    return path


def _write(base: Path, files: Mapping[str, bytes]) -> None:
    for name, data in files.items():
        target = base / name
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.partial")
        partial.write_bytes(data)
        os.replace(partial, target)


def _one_line(text: str) -> str:
    return " ".join(text.split())


class GitTrail:
    """The git audit trail in ``repo_dir``, created on first use.

    ``git`` is the git executable to run (looked up on ``PATH``); ``lock_timeout_s`` bounds
    the wait for another process's commit. Every method raises ``AuditUnavailable`` when git
    is missing or fails, when the directory is unusable, or when the lock is not obtained in
    time; the caller logs it and carries on (the database keeps the full record).
    """

    def __init__(self, repo_dir: Path, *, git: str = "git", lock_timeout_s: float = 30.0) -> None:
        self.repo_dir = Path(repo_dir)
        self._git = git
        self._lock_timeout_s = lock_timeout_s
        # The parent's git settings must not leak in: no user config (signing, hooks paths,
        # templates), and none of the GIT_DIR-style variables a git hook would have set.
        env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
        env.update(
            GIT_AUTHOR_NAME=AUTHOR_NAME,
            GIT_AUTHOR_EMAIL=AUTHOR_EMAIL,
            GIT_COMMITTER_NAME=AUTHOR_NAME,
            GIT_COMMITTER_EMAIL=AUTHOR_EMAIL,
            GIT_CONFIG_NOSYSTEM="1",
            GIT_CONFIG_GLOBAL=os.devnull,
            GIT_TERMINAL_PROMPT="0",
            LC_ALL="C",
        )
        self._env = env

    async def _exec(
        self, *args: str, input: bytes | None = None
    ) -> subprocess.CompletedProcess[bytes]:
        command = [self._git, "-C", str(self.repo_dir), "-c", "commit.gpgsign=false", *args]
        try:
            if input is not None:
                return await anyio.run_process(command, input=input, check=False, env=self._env)
            return await anyio.run_process(
                command, stdin=subprocess.DEVNULL, check=False, env=self._env
            )
        except FileNotFoundError:
            raise AuditUnavailable(
                f"git ({self._git}) is not installed or not on PATH, so the audit trail "
                f"at {self.repo_dir} is not written"
            ) from None
        except OSError as exc:
            raise AuditUnavailable(f"git ({self._git}) could not be started: {exc}") from None

    async def _run(self, *args: str, input: bytes | None = None) -> str:
        result = await self._exec(*args, input=input)
        if result.returncode != 0:
            lines = result.stderr.decode(errors="replace").strip().splitlines()
            why = lines[0] if lines else f"exit status {result.returncode}"
            raise AuditUnavailable(f"git {args[0]} failed in {self.repo_dir}: {why}")
        return result.stdout.decode(errors="replace")

    @asynccontextmanager
    async def _locked(self) -> AsyncIterator[None]:
        try:
            self.repo_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.repo_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise AuditUnavailable(
                f"the audit trail directory {self.repo_dir} is unusable: {exc.strerror}"
            ) from None
        try:
            # flock locks belong to the open file description, so two tasks of one process
            # exclude each other just as two processes do.
            with anyio.move_on_after(self._lock_timeout_s) as scope:
                while True:
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        break
                    except BlockingIOError:
                        await anyio.sleep(_LOCK_POLL_S)
            if scope.cancelled_caught:
                raise AuditUnavailable(
                    f"the audit trail at {self.repo_dir} stayed locked by another process "
                    f"for {self._lock_timeout_s:g} s"
                )
            yield
        finally:
            os.close(fd)  # closing releases the lock

    async def _ensure_repository(self) -> None:
        if not (self.repo_dir / ".git").exists():
            await self._run("init", "--quiet", "--initial-branch=main")
        if await self._head() is None:
            await anyio.to_thread.run_sync(
                _write,
                self.repo_dir,
                {"README.md": README.encode(), ".gitignore": GITIGNORE.encode()},
            )
            await self._run("add", "--", "README.md", ".gitignore")
            await self._run("commit", "--quiet", "-m", "Audit trail: layout and trailers")

    async def _head(self) -> str | None:
        result = await self._exec("rev-parse", "--verify", "--quiet", "HEAD^{commit}")
        if result.returncode != 0:
            return None
        return result.stdout.decode().strip() or None

    def _run_dir(self, run_id: uuid.UUID) -> str:
        existing = sorted((self.repo_dir / "runs").glob(f"*-{run_id}"))
        if existing:
            return f"runs/{existing[0].name}"
        if run_id.version == 7:  # the leading 48 bits are the creation time in milliseconds
            made = dt.datetime.fromtimestamp((run_id.int >> 80) / 1000, dt.UTC)
        else:
            made = dt.datetime.now(dt.UTC)
        return f"runs/{made:%Y-%m-%d}-{run_id}"

    def run_dir(self, run_id: uuid.UUID) -> Path:
        """The directory of a run in the working tree (it may not exist yet)."""
        return self.repo_dir / self._run_dir(run_id)

    async def commit_milestone(
        self,
        run_id: uuid.UUID,
        milestone: Milestone,
        files: Mapping[str, FileContent],
        *,
        status: str,
        services: Sequence[str],
        subject: str,
    ) -> str:
        """Write ``files`` into the run's directory and commit them as one milestone; return
        the commit's sha.

        ``files`` maps paths inside the run directory (``plan.json``, ``step_file(...)``) to
        text, bytes, or a mapping written as sorted, indented JSON. Every milestone is a
        commit, even when no file changed, except a repeat of the run's latest milestone with
        nothing new (a resumed process committing again), which returns the existing sha.

        Raises ``ValueError`` for a milestone outside ``MILESTONES`` or a path that is
        absolute or leaves the run directory; ``AuditUnavailable`` when git cannot do it.
        """
        if milestone not in MILESTONES:
            raise ValueError(f"{milestone!r} is not a milestone ({', '.join(MILESTONES)})")
        paths = {str(_relative(name)): _bytes(content) for name, content in files.items()}
        service_list = ", ".join(_one_line(s) for s in services)
        message = (
            f"{_one_line(subject)[:200] or f'Run {run_id} {milestone}'}\n\n"
            f"Run-Id: {run_id}\nStatus: {_one_line(status)}\n"
            f"Services: {service_list}\nMilestone: {milestone}\n"
        )
        async with self._locked():
            await self._ensure_repository()
            run_dir = self._run_dir(run_id)
            await anyio.to_thread.run_sync(_write, self.repo_dir / run_dir, paths)
            if paths:  # only what was written: never a stray partial file of a crashed writer
                await self._run("add", "--", *(f"{run_dir}/{name}" for name in paths))
            unchanged = (await self._exec("diff", "--cached", "--quiet")).returncode == 0
            if unchanged:
                latest = await self.history(run_id, limit=1)
                if latest and latest[0].milestone == milestone and latest[0].status == status:
                    return latest[0].sha
            await self._run(
                "commit", "--quiet", "--allow-empty", "--file=-", input=message.encode()
            )
            head = await self._head()
        if head is None:  # pragma: no cover - a commit that succeeded has a HEAD
            raise AuditUnavailable(f"git commit left no HEAD in {self.repo_dir}")
        return head

    async def _log(self, *args: str) -> list[TrailCommit]:
        if await self._head() is None:
            return []
        fmt = "%H%x1f%cI%x1f%s%x1f%(trailers:only,unfold,separator=%x1e)"
        out = await self._run("log", "-z", f"--format={fmt}", *args)
        commits = []
        for record in filter(None, out.split("\0")):
            sha, committed, subject, trailers = record.split("\x1f", 3)
            values: dict[str, str] = {}
            for trailer in trailers.split("\x1e"):
                key, _, value = trailer.partition(":")
                values[key.strip()] = value.strip()
            if "Run-Id" not in values or "Milestone" not in values:
                continue  # the layout commit, or someone's own commit
            commits.append(
                TrailCommit(
                    sha=sha,
                    run_id=uuid.UUID(values["Run-Id"]),
                    milestone=values["Milestone"],
                    status=values.get("Status", ""),
                    services=tuple(
                        s.strip() for s in values.get("Services", "").split(",") if s.strip()
                    ),
                    subject=subject,
                    committed_at=dt.datetime.fromisoformat(committed),
                )
            )
        return commits

    async def history(self, run_id: uuid.UUID, *, limit: int | None = None) -> list[TrailCommit]:
        """The milestone commits of one run, newest first. Raises ``AuditUnavailable``."""
        if not (self.repo_dir / ".git").exists():
            return []
        args = ["--fixed-strings", f"--grep=Run-Id: {run_id}"]
        if limit is not None:
            args.append(f"--max-count={limit}")
        return await self._log(*args)

    async def runs_for_service(self, name: str) -> list[TrailCommit]:
        """The milestone commits whose ``Services`` trailer names ``name`` exactly, newest
        first. Raises ``AuditUnavailable``."""
        if not (self.repo_dir / ".git").exists():
            return []
        commits = await self._log("--fixed-strings", f"--grep={name}")
        return [c for c in commits if name in c.services]
