"""``command-without-guard``: a command, shell, raw or script task that says neither when it
has nothing to do (``creates``/``removes``) nor when it changed something (``changed_when``).

Ansible reports such a task ``changed`` on every run, so a second run of the playbook never
reads "nothing to do", and handlers it notifies run every time.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator

from chiffon.playbooks.edits import diff_of, insert_after, key_column
from chiffon.playbooks.findings import Finding
from chiffon.playbooks.playbook import Task
from chiffon.playbooks.rules.context import Context

RULE = "command-without-guard"
COMMANDS = frozenset({"command", "shell", "raw", "script"})

# Commands that only read: `changed_when: false` is their exact description.
_READ_ONLY = frozenset((
    "cat", "ls", "test", "[", "stat", "grep", "egrep", "fgrep", "find", "which", "id", "getent",
    "whoami", "hostname", "uname", "date", "df", "du", "ps", "pgrep", "head", "tail", "wc",
    "readlink", "realpath", "sha256sum", "sha1sum", "md5sum", "jq", "dig", "nslookup", "ping",
    "true", "false",
))  # fmt: skip
_READ_ONLY_SUB = {
    "systemctl": frozenset({"is-active", "is-enabled", "is-failed", "status", "show", "cat"}),
    "docker": frozenset({"ps", "inspect", "images", "version", "info", "logs"}),
    "podman": frozenset({"ps", "inspect", "images", "version", "info", "logs"}),
    "dpkg-query": frozenset({"-W", "-l", "-s", "--show", "--list", "--status"}),
    "rpm": frozenset({"-q", "-qa", "--query"}),
    "git": frozenset({"status", "rev-parse", "log", "describe", "diff", "show"}),
}
_CREATES = frozenset({"mkdir", "touch"})
_INLINE_GUARD = re.compile(r"(?:^|\s)(?:creates|removes)=")

WHY = (
    "Ansible reports a command as changed on every run unless told otherwise, so the "
    'playbook never reaches "nothing to do" and whatever it notifies runs every time.'
)


def command_text(task: Task) -> str | None:
    """The command line a command/shell/raw/script task runs, or ``None``."""
    args = task.args
    for key in ("_raw", "cmd"):
        if isinstance(args.get(key), str):
            return str(args[key])
    argv = args.get("argv")
    if isinstance(argv, list):
        return " ".join(str(a) for a in argv)
    return None


def _words(command: str) -> list[str]:
    try:
        words = shlex.split(command, comments=True)
    except ValueError:
        words = command.split()
    while words and (words[0] == "sudo" or "=" in words[0]):
        words = words[1:]
    return words


def guarded(task: Task) -> bool:
    args = task.args
    if "changed_when" in task.data or "creates" in args or "removes" in args:
        return True
    raw = args.get("_raw")
    return isinstance(raw, str) and bool(_INLINE_GUARD.search(raw))


def check(context: Context) -> Iterator[Finding]:
    from chiffon.playbooks.rules.restarts import restarts

    for task in context.book.tasks:
        if task.short not in COMMANDS or task.is_handler or guarded(task) or restarts(task):
            continue  # a restart's fix is a handler (restart-without-handler)
        command = command_text(task) or ""
        words = _words(command)
        yield Finding(
            rule=RULE,
            source="chiffon",
            path=task.document.path,
            line=task.data.line,
            message=f'task "{task.shown}" runs `{command.strip()[:80]}` with no creates, '
            "removes or changed_when",
            why=WHY,
            fix=_fix(words),
            key=f"{task.shown}\0{command.strip()}",
            entry=context.entry.id,
            diff=_diff(task, words),
        )


def _read_only(words: list[str]) -> bool:
    if not words:
        return False
    program = words[0].rsplit("/", 1)[-1]
    if program in _READ_ONLY and not any(w in {">", ">>", "|", "&&", ";"} for w in words):
        return True
    subcommands = _READ_ONLY_SUB.get(program)
    rest = [w for w in words[1:] if not w.startswith("-") or program in {"dpkg-query", "rpm"}]
    if program == "docker" and rest[:1] == ["compose"]:
        return rest[1:2] in (["ps"], ["config"], ["ls"])
    return subcommands is not None and bool(rest) and rest[0] in subcommands


def _created(words: list[str]) -> str | None:
    if len(words) < 2 or words[0].rsplit("/", 1)[-1] not in _CREATES:
        return None
    paths = [w for w in words[1:] if not w.startswith("-")]
    return paths[0] if len(paths) == 1 else None


def _fix(words: list[str]) -> str:
    if _read_only(words):
        return "The command only reads: add `changed_when: false`."
    created = _created(words)
    if created:
        return f"Add `creates: {created}` so the command runs only while that path is missing."
    return (
        "Say when it has nothing to do (`creates:`/`removes:` naming the file it makes or "
        "removes) or when it changed something (`changed_when:` on its registered output), "
        "or use a module that checks the state itself."
    )


def _diff(task: Task, words: list[str]) -> str | None:
    lines = task.document.lines
    column = key_column(lines[task.data.line - 1])
    end = task.data.end
    if _read_only(words):
        edit = insert_after(end, [" " * column + "changed_when: false\n"])
        return diff_of(task.document.path, lines, [edit])
    created = _created(words)
    if not created:
        return None
    block = next(
        (
            key
            for key in (task.module, "args")
            if isinstance(task.data.get(key), dict)
            and task.data.span[key][0] > task.data.key_line[key]
        ),
        None,
    )
    if block is not None:
        first, last = task.data.span[block]
        inner = key_column(lines[first - 1])
        edit = insert_after(last, [" " * inner + f"creates: {_quoted(created)}\n"])
    elif any(isinstance(task.data.get(key), dict) for key in (task.module, "args")):
        return None  # a flow mapping: written by hand
    else:
        edit = insert_after(
            end,
            [" " * column + "args:\n", " " * (column + 2) + f"creates: {_quoted(created)}\n"],
        )
    return diff_of(task.document.path, lines, [edit])


def _quoted(value: str) -> str:
    return f'"{value}"' if "{{" in value or ":" in value or value[:1] in "*&!%@`" else value
