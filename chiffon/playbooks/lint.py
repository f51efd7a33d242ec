"""ansible-lint over playbooks, run as a subprocess and cached by the files' digest.

ansible-lint runs in a child process of Chiffon's own interpreter (``python -m ansiblelint``)
rather than through its Python API: the API is not public (``ansiblelint.__main__.main``
mutates module-level options, logging and Ansible's configuration, which would leak into a
long-lived ``chiffon serve``), and most of its cost is subprocesses it starts anyway —
``ansible-config dump`` and one ``ansible-playbook --syntax-check`` per playbook — so an
in-process call saves only its ~1 s import. The child process also keeps the event loop free.

Each file's result is cached under a key built from ansible-lint's and ansible-core's
versions, the root's ansible-lint configuration, the file's path and bytes, and every file
under the ``roles``, ``templates`` and ``files`` folders next to it (what
``Catalog.digest`` covers). Unchanged playbooks are not linted again: in memory for the
process, and on disk when a ``cache_dir`` is given (the CLI passes one under
``CHIFFON_HOME``), so a run's after-review does not pay ansible-lint's seconds again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

import anyio

from chiffon.playbooks.errors import LintOutsideRoot, LintUnavailable

Severity = Literal["error", "warning", "info"]

# ansible-lint's exit statuses (ansiblelint.constants.RC) that mean "it ran".
_RAN = (0, 2)
_CONFIG_FILES = (
    ".ansible-lint",
    ".ansible-lint.yml",
    ".ansible-lint.yaml",
    ".config/ansible-lint.yml",
    ".config/ansible-lint.yaml",
)
_SIBLING_FOLDERS = ("roles", "templates", "files")
_SEVERITY: dict[str, Severity] = {
    "blocker": "error",
    "critical": "error",
    "major": "error",
    "minor": "warning",
    "info": "info",
}
_STDERR_TAIL = 2000

_memory: dict[str, tuple[LintFinding, ...]] = {}


@dataclass(frozen=True, slots=True)
class LintFinding:
    """One ansible-lint finding.

    ``rule`` is ansible-lint's rule id with its tag (``no-changed-when``,
    ``yaml[line-length]``); ``path`` is the file, POSIX, relative to the root given to
    ``lint``; ``line`` is 1-based; ``severity`` is ``error``, ``warning`` or ``info``.
    """

    rule: str
    path: str
    line: int
    message: str
    severity: Severity


async def lint(
    paths: Sequence[Path], *, root: Path, cache_dir: Path | None = None
) -> list[LintFinding]:
    """ansible-lint's findings for ``paths`` (playbooks or task files, absolute or relative to
    ``root``), sorted by path and line.

    Files whose digest was linted before (in this process, or in ``cache_dir``) are not
    linted again; the others are linted together in one ansible-lint process, off the event
    loop. A finding in a file that was not given (a role's task file) is kept with every
    given file whose folder holds it.

    Raises ``LintOutsideRoot`` when a path is not under ``root``, and ``LintUnavailable``
    when ansible-lint is missing, exits with a status other than 0 or 2, or prints a report
    that is not its JSON.
    """
    found, missing, root, keys = await _cached(paths, root, cache_dir)
    if missing:
        fresh = _attribute(await _run(missing, root), missing)
        for rel, key in keys.items():
            if rel in fresh:
                _memory[key] = found[rel] = fresh[rel]
                if cache_dir is not None:
                    await anyio.to_thread.run_sync(_write_cache, cache_dir, key, fresh[rel])
    return _merged(found)


async def cached_lint(
    paths: Sequence[Path], *, root: Path, cache_dir: Path | None = None
) -> tuple[list[LintFinding], list[str]]:
    """What the cache knows of ``paths`` without running ansible-lint: the findings of the
    files it holds, and the files (relative to ``root``) it does not. For callers that must
    stay fast (the review after ``chiffon run``). Raises ``LintOutsideRoot``."""
    found, missing, _, _ = await _cached(paths, root, cache_dir)
    return _merged(found), missing


async def _cached(
    paths: Sequence[Path], root: Path, cache_dir: Path | None
) -> tuple[dict[str, tuple[LintFinding, ...]], list[str], Path, dict[str, str]]:
    root, relative, keys = await anyio.to_thread.run_sync(_prepare, paths, root)
    found: dict[str, tuple[LintFinding, ...]] = {}
    missing: list[str] = []
    for rel, key in zip(relative, keys, strict=True):
        cached = _memory.get(key)
        if cached is None and cache_dir is not None:
            cached = await anyio.to_thread.run_sync(_read_cache, cache_dir, key)
        if cached is None:
            missing.append(rel)
        else:
            _memory[key] = found[rel] = cached
    return found, missing, root, dict(zip(relative, keys, strict=True))


def _merged(found: dict[str, tuple[LintFinding, ...]]) -> list[LintFinding]:
    merged = {finding for findings in found.values() for finding in findings}
    return sorted(merged, key=lambda f: (f.path, f.line, f.rule, f.message))


def lint_cache_key(path: Path, *, root: Path) -> str:
    """The cache key of one file (absolute or relative to ``root``): what must not change for
    its cached findings to stand. Raises ``LintOutsideRoot``."""
    root = root.resolve()
    return _keys([_relative(path, root)], root)[0]


def _prepare(paths: Sequence[Path], root: Path) -> tuple[Path, list[str], list[str]]:
    root = root.resolve()
    relative = [_relative(path, root) for path in dict.fromkeys(paths)]
    return root, relative, _keys(relative, root)


def _relative(path: Path, root: Path) -> str:
    absolute = (path if path.is_absolute() else root / path).resolve()
    try:
        return absolute.relative_to(root).as_posix()
    except ValueError:
        raise LintOutsideRoot(str(path), str(root)) from None


def _keys(relative: Sequence[str], root: Path) -> list[str]:
    common = hashlib.sha256()
    for package in ("ansible-lint", "ansible-core"):
        common.update(_version(package).encode() + b"\0")
    for name in _CONFIG_FILES:
        config = root / name
        if config.is_file():
            common.update(name.encode() + b"\0" + config.read_bytes() + b"\0")
    keys = []
    for rel in relative:
        h = common.copy()
        path = root / rel
        files = [path]
        for sub in _SIBLING_FOLDERS:
            folder = path.parent / sub
            if folder.is_dir():
                files.extend(p for p in sorted(folder.rglob("*")) if p.is_file())
        h.update(rel.encode() + b"\0")
        for file in files:
            h.update(file.relative_to(root).as_posix().encode() + b"\0")
            h.update((file.read_bytes() if file.is_file() else b"<missing>") + b"\0")
        keys.append(h.hexdigest())
    return keys


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        raise LintUnavailable(f"the {package} package is not installed") from None


async def _run(relative: Sequence[str], root: Path) -> list[LintFinding]:
    venv_bin = str(Path(sys.executable).parent)
    env = {
        **os.environ,
        # ansible-lint calls ansible-playbook and ansible-config: Chiffon's own.
        "PATH": os.pathsep.join([venv_bin, os.environ.get("PATH", os.defpath)]),
        "NO_COLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_NOCOWS": "1",
    }
    command = [
        sys.executable,
        "-m",
        "ansiblelint",
        "--format",
        "json",
        "--offline",
        "--nocolor",
        "--project-dir",
        str(root),
        *relative,
    ]
    try:
        done = await anyio.run_process(command, cwd=root, env=env, check=False)
    except OSError as exc:
        raise LintUnavailable(f"cannot start {sys.executable}: {exc}") from exc
    stderr = done.stderr.decode(errors="replace")[-_STDERR_TAIL:].strip()
    if done.returncode not in _RAN:
        raise LintUnavailable(f"exit status {done.returncode}: {stderr or 'no message'}")
    try:
        report = json.loads(done.stdout or b"[]")
    except json.JSONDecodeError:
        raise LintUnavailable(f"its report is not JSON: {stderr or done.stdout[:200]!r}") from None
    if not isinstance(report, list):
        raise LintUnavailable("its report is not a JSON list")
    return [_finding(item, root) for item in report if isinstance(item, dict)]


def _finding(item: dict[str, Any], root: Path) -> LintFinding:
    location = item.get("location") or {}
    raw_path = Path(str(location.get("path", "")))
    if raw_path.is_absolute():
        with contextlib.suppress(ValueError):
            raw_path = raw_path.resolve().relative_to(root)
    lines = location.get("lines") or {}
    positions = location.get("positions") or {}
    line = lines.get("begin") or (positions.get("begin") or {}).get("line") or 1
    if isinstance(line, dict):
        line = line.get("line", 1)
    return LintFinding(
        rule=str(item.get("check_name", "unknown")),
        path=raw_path.as_posix(),
        line=int(line),
        message=str(item.get("description", "")).strip(),
        severity=_SEVERITY.get(str(item.get("severity", "major")), "error"),
    )


def _attribute(
    findings: Sequence[LintFinding], linted: Sequence[str]
) -> dict[str, tuple[LintFinding, ...]]:
    """Findings per linted file: its own, plus those in other files under its folder."""
    result: dict[str, list[LintFinding]] = {rel: [] for rel in linted}
    for finding in findings:
        if finding.path in result:
            result[finding.path].append(finding)
            continue
        owners = [rel for rel in linted if _under(finding.path, rel)] or list(linted)
        for owner in owners:
            result[owner].append(finding)
    return {rel: tuple(items) for rel, items in result.items()}


def _under(path: str, linted: str) -> bool:
    folder = Path(linted).parent
    return folder == Path(".") or Path(path).is_relative_to(folder)


_UNRESOLVED = re.compile(r"couldn't resolve module/action '([\w.]+)'")


def missing_collection(finding: LintFinding) -> str | None:
    """The collection (``community.docker``) whose module ansible-lint could not resolve,
    when that is what ``finding`` says; else ``None``."""
    match = _UNRESOLVED.search(finding.message)
    if match is None:
        return None
    parts = match.group(1).split(".")
    return ".".join(parts[:2]) if len(parts) >= 3 else None


def collapsed(findings: Sequence[LintFinding]) -> list[LintFinding]:
    """``findings`` with every unresolved module of one missing collection as one finding
    (the first, its message saying how many places use it)."""
    by_collection: dict[str, list[LintFinding]] = {}
    kept: list[LintFinding | str] = []
    for finding in findings:
        collection = missing_collection(finding)
        if collection is None:
            kept.append(finding)
            continue
        if collection not in by_collection:
            kept.append(collection)
        by_collection.setdefault(collection, []).append(finding)
    result = []
    for item in kept:
        if isinstance(item, LintFinding):
            result.append(item)
            continue
        first, *others = by_collection[item]
        more = f" (and {len(others)} more places)" if others else ""
        result.append(
            LintFinding(
                rule=first.rule,
                path=first.path,
                line=first.line,
                message=f"collection {item} is not installed: {first.message}{more}",
                severity=first.severity,
            )
        )
    return result


def _read_cache(cache_dir: Path, key: str) -> tuple[LintFinding, ...] | None:
    try:
        data = json.loads((cache_dir / f"{key}.json").read_text())
        return tuple(LintFinding(**item) for item in data)
    except (OSError, ValueError, TypeError):
        # A missing or unreadable entry is a miss: the file is linted again.
        return None


def _write_cache(cache_dir: Path, key: str, findings: tuple[LintFinding, ...]) -> None:
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        temporary = cache_dir / f".{key}.{os.getpid()}.tmp"
        temporary.write_text(json.dumps([asdict(f) for f in findings]))
        temporary.replace(cache_dir / f"{key}.json")
    except OSError:
        # A cache that cannot be written costs time on the next check, never a result.
        pass
