"""What a playbook run reports: one ``PlaybookEvent`` per Ansible event, one ``PlaybookOutcome``.

``EventRecorder`` turns ansible-runner's raw events (already redacted) into both: it runs in
the runner's thread, one event at a time, and is read once the run has ended.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections import deque
from collections.abc import Mapping
from typing import Any, Literal

from chiffon.protocol import HostStats, StepFailure

EventStatus = Literal["ok", "changed", "failed", "skipped", "unreachable", "info"]

MAX_TEXT = 8192
LEFT_FOR_YOU = "chiffon_left_for_you"
"""The custom stat (``set_stats``) a playbook lists what it left for a person to do under:
a restart it only queued, a file to import by hand — each line with its command."""
"""The longest event text (``StepOutput.text``'s limit)."""
MAX_ERROR = 4000
MAX_FAILURE_TAIL = 16384

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_BANNER_STARS = re.compile(r"\s*\*+\s*$")
_ERROR_START = re.compile(r"^(\[ERROR\]|ERROR!)")
_OTHER_START = re.compile(r"^\[(WARNING|DEPRECATION WARNING)\]|^(PLAY|TASK|RUNNING HANDLER) \[")
_RESULT_LINE = re.compile(r"^(ok|changed|fatal|failed|skipping|unreachable)\b")
_RESULT_EVENTS = {
    "runner_on_ok": "ok",
    "runner_item_on_ok": "ok",
    "runner_on_failed": "failed",
    "runner_item_on_failed": "failed",
    "runner_on_skipped": "skipped",
    "runner_item_on_skipped": "skipped",
    "runner_on_unreachable": "unreachable",
}


@dataclasses.dataclass(frozen=True, slots=True)
class PlaybookEvent:
    """One Ansible event of a run, as it happened, secrets redacted.

    ``seq`` counts the run's events from 0; ``event`` is ansible-runner's name for it
    (``runner_on_ok``, ``playbook_on_task_start``…); ``text`` is one line.
    """

    seq: int
    event: str
    host: str | None
    task: str | None
    status: EventStatus
    text: str


@dataclasses.dataclass(frozen=True, slots=True)
class PlaybookOutcome:
    """How a playbook run ended.

    ``stats`` is Ansible's play recap per host; ``failure`` names the first failing host and
    task (or why ansible-playbook failed before any task); ``output_tail`` is the end of the
    output, at most the run's ``output_cap`` bytes; ``diff`` is the unified diff of what a
    check-mode run would change (empty otherwise, and when nothing would change).
    """

    status: Literal["succeeded", "failed"]
    stats: dict[str, HostStats]
    failure: StepFailure | None
    seconds: float
    output_tail: str
    diff: str = ""
    rc: int | None = None
    left_for_you: tuple[str, ...] = ()
    """What the playbook did not do and says a person must (``set_stats`` of
    ``chiffon_left_for_you``: a list of lines, each with its command)."""


def event_status(name: str, data: Mapping[str, Any]) -> EventStatus:
    """The status of a raw event: ``changed`` for an ok result that changed something."""
    status = _RESULT_EVENTS.get(name)
    if status is None:
        return "info"
    if status == "ok" and isinstance(res := data.get("res"), Mapping) and res.get("changed"):
        return "changed"
    return status  # type: ignore[return-value]


def one_line(name: str, stdout: str, data: Mapping[str, Any]) -> str:
    """An event's text as one line: the banner of a play or task; for a result, its status
    line (which Ansible prints after any diff) and what follows, whitespace collapsed; the
    first line of anything else."""
    lines = [line.rstrip() for line in _ANSI.sub("", stdout).splitlines() if line.strip()]
    if not lines:
        if name == "playbook_on_stats":
            return "PLAY RECAP"
        if name == "playbook_on_start":
            return f"PLAYBOOK [{data.get('playbook', '')}]"
        host, task = data.get("host"), data.get("task")
        return " ".join(p for p in (name, host and f"[{host}]", task and f"[{task}]") if p)
    if name in _RESULT_EVENTS:
        starts = [n for n, line in enumerate(lines) if _RESULT_LINE.match(line)]
        line = " ".join(" ".join(lines[starts[-1] if starts else 0 :]).split())
    else:
        line = _BANNER_STARS.sub("", lines[0])
    return line if len(line) <= MAX_TEXT else line[: MAX_TEXT - 1] + "…"


class EventRecorder:
    """Accumulates a run's events: output tail, stats, first failure, check-mode diffs."""

    def __init__(self, output_cap: int) -> None:
        self.output_cap = output_cap
        self.seq = 0
        self.stats: dict[str, HostStats] = {}
        self.failures: list[StepFailure] = []
        self.no_hosts: str | None = None
        self.left_for_you: tuple[str, ...] = ()
        self._diffs: list[str] = []
        self._tail: deque[str] = deque()
        self._tail_chars = 0
        self._errors: deque[str] = deque(maxlen=5)
        # ansible-core 2.19 errors are blocks: "[ERROR]: why", "Origin: file:line:col", the
        # lines around it; each block kept whole, in order (a few of them).
        self._blocks: deque[list[str]] = deque(maxlen=8)
        self._in_error = False

    def add(self, raw: Mapping[str, Any]) -> PlaybookEvent:
        """Record one redacted runner event and return it as a ``PlaybookEvent``."""
        name = str(raw.get("event", ""))
        data = raw.get("event_data")
        data = data if isinstance(data, Mapping) else {}
        stdout = str(raw.get("stdout") or "").replace("\r\n", "\n").replace("\r", "")
        if stdout:
            self._append_output(stdout)
        status = event_status(name, data)
        host = data.get("host") or None
        task = data.get("task") or None
        if name == "playbook_on_stats":
            self.stats = _stats(data)
            custom = data.get("artifact_data")
            left = custom.get(LEFT_FOR_YOU) if isinstance(custom, Mapping) else None
            if isinstance(left, list):
                self.left_for_you = tuple(dict.fromkeys(str(line) for line in left))
        elif name == "playbook_on_no_hosts_matched":
            self.no_hosts = "no host of the inventory matched the play's hosts"
        elif name in {"verbose", "error"} and stdout.strip():
            self._errors.append(_ANSI.sub("", stdout).strip())
            self._error_lines(_ANSI.sub("", stdout))
        failed = status in {"failed", "unreachable"} and not data.get("ignore_errors")
        if failed and len(self.failures) < 100:
            self.failures.append(
                StepFailure(host=host, task=task, error=_error_of(data, stdout)[:MAX_ERROR])
            )
        if name == "runner_on_ok":
            self._collect_diff(host, task, data.get("res"))
        event = PlaybookEvent(
            seq=self.seq,
            event=name,
            host=str(host) if host is not None else None,
            task=str(task) if task is not None else None,
            status=status,
            text=one_line(name, stdout, data),
        )
        self.seq += 1
        return event

    def _append_output(self, stdout: str) -> None:
        self._tail.append(stdout if stdout.endswith("\n") else stdout + "\n")
        self._tail_chars += len(self._tail[-1])
        # Characters are at most 4 bytes: keeping 4x the cap in characters keeps the cap.
        while self._tail_chars - len(self._tail[0]) > 4 * self.output_cap:
            self._tail_chars -= len(self._tail.popleft())

    def first_failure(self) -> StepFailure | None:
        """The first failed task on a host the recap counts as failed or unreachable (a
        failure a ``rescue`` handled does not count), else the first failed task."""
        for failure in self.failures:
            stats = self.stats.get(failure.host or "")
            if stats is not None and (stats.failed or stats.unreachable):
                return failure
        return self.failures[0] if self.failures else None

    def output_tail(self) -> str:
        """The end of the output, at most ``output_cap`` bytes of UTF-8."""
        text = _ANSI.sub("", "".join(self._tail))
        data = text.encode()
        if len(data) <= self.output_cap:
            return text
        return data[-self.output_cap :].decode(errors="ignore")

    def _error_lines(self, text: str) -> None:
        for line in text.rstrip().splitlines():
            if _ERROR_START.match(line):
                self._blocks.append([line.rstrip()])
                self._in_error = True
            elif _OTHER_START.match(line):
                self._in_error = False
            elif self._in_error:
                self._blocks[-1].append(line.rstrip())

    def last_error(self) -> str | None:
        """What ansible-playbook said went wrong outside a task: its error blocks, each
        whole (``[ERROR]: the role 'x' was not found…``, its ``Origin:`` and the lines
        shown), else its last lines."""
        if self._blocks:
            return "\n\n".join("\n".join(block).strip() for block in self._blocks)
        return "\n".join(self._errors) if self._errors else None

    def diff(self) -> str:
        return "".join(self._diffs)

    def _collect_diff(self, host: Any, task: Any, res: Any) -> None:
        if not isinstance(res, Mapping):
            return
        results = res.get("results")
        found = [r for r in results if isinstance(r, Mapping)] if results else [res]
        rendered = "".join(_render_diff(r["diff"], _file_of(r)) for r in found if r.get("diff"))
        if rendered:
            self._diffs.append(f"# {host}: {task}\n{rendered}")


def _stats(data: Mapping[str, Any]) -> dict[str, HostStats]:
    def count(key: str, host: str) -> int:
        table = data.get(key)
        return int(table.get(host, 0)) if isinstance(table, Mapping) else 0

    hosts: dict[str, None] = {}
    for key in ("processed", "ok", "changed", "failures", "dark", "skipped"):
        table = data.get(key)
        if isinstance(table, Mapping):
            hosts.update(dict.fromkeys(str(h) for h in table))
    return {
        host: HostStats(
            ok=count("ok", host),
            changed=count("changed", host),
            failed=count("failures", host),
            unreachable=count("dark", host),
            skipped=count("skipped", host),
        )
        for host in hosts
    }


def _error_of(data: Mapping[str, Any], stdout: str) -> str:
    """The message of a failed result: its ``msg`` (a failed loop item's, for a loop)."""
    res = data.get("res")
    if isinstance(res, Mapping):
        for item in res.get("results") or ():
            if isinstance(item, Mapping) and item.get("failed") and item.get("msg"):
                return str(item["msg"])
        for key in ("msg", "reason", "stderr", "exception"):
            if res.get(key):
                return str(res[key])
    lines = [line for line in _ANSI.sub("", stdout).splitlines() if line.strip()]
    return lines[-1] if lines else "the task failed"


def _lines(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, Mapping):
        return [f"{k}: {v}\n" for k, v in value.items()]
    text = str(value)
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    return lines


def _file_of(res: Mapping[str, Any]) -> str | None:
    """The file a result is about: its ``dest`` or ``path`` (a template's own diff header
    names the temporary copy of its source, which says nothing to a reviewer)."""
    invocation = res.get("invocation")
    args = invocation.get("module_args") if isinstance(invocation, Mapping) else None
    for source in (res, args if isinstance(args, Mapping) else {}):
        for key in ("dest", "path"):
            if isinstance(source.get(key), str):
                return str(source[key])
    return None


def _render_diff(diff: Any, file: str | None) -> str:
    """One module's diff data (a dict, or a list of them) as unified diff text."""
    parts: list[str] = []
    for one in diff if isinstance(diff, list) else [diff]:
        if not isinstance(one, Mapping):
            continue
        if one.get("prepared"):
            prepared = str(one["prepared"])
            parts.append(prepared if prepared.endswith("\n") else prepared + "\n")
        before, after = _lines(one.get("before")), _lines(one.get("after"))
        if before == after:
            continue
        parts.extend(
            difflib.unified_diff(
                before,
                after,
                fromfile=f"before: {file or one.get('before_header', '')}".rstrip(),
                tofile=f"after: {file or one.get('after_header', '')}".rstrip(),
            )
        )
    return "".join(parts)
