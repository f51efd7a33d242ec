"""Fixtures of the generation tests: a copy of the homelab catalog to generate into, and
helpers to run ``chiffon`` in a real process and to read what a directory holds."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[3]
HOMELAB = ROOT / "examples" / "homelab"


@pytest.fixture
def catalog_dir(tmp_path: Path) -> Path:
    """A copy of the homelab catalog, for a test to add generated entries to."""
    target = tmp_path / "catalog"
    shutil.copytree(HOMELAB, target)
    return target


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under ``root``, by relative path, with its bytes."""
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def process_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """An environment for ``chiffon`` of its own: home, target root and audit trail under
    ``tmp_path``, no ``CHIFFON_*`` of the caller."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHIFFON_")}
    env.update(
        CHIFFON_HOME=str(tmp_path / "home"),
        CHIFFON_TARGET_ROOT=str(tmp_path / "target"),
        CHIFFON_AUDIT_DIR=str(tmp_path / "audit"),
        **extra,
    )
    return env


def chiffon(
    *args: str, env: dict[str, str], timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    """``python -m chiffon ARGS`` to completion, output captured."""
    return subprocess.run(
        [sys.executable, "-m", "chiffon", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        cwd=ROOT,
        check=False,
    )


def words(text: str) -> str:
    """``text`` with every run of whitespace as one space: rich wraps to the terminal."""
    return " ".join(text.split())


def ansible_syntax_check(inventory: Path, *playbooks: Path) -> subprocess.CompletedProcess[str]:
    """``ansible-playbook --syntax-check`` of Chiffon's environment over ``playbooks``."""
    return subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), "--syntax-check", "-i",
         str(inventory), *map(str, playbooks)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def load_yaml(path: Path) -> Any:
    import yaml

    return yaml.safe_load(path.read_text())
