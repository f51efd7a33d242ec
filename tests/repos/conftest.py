"""Fixtures of the repository-import tests: a homelab repository written by ``layout``."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tests.repos.layout import write_homelab


@pytest.fixture
def homelab(tmp_path: Path) -> Path:
    """A homelab repository (site playbook, roles, INI inventory, vault) in the test's
    directory; its roles write under ``tmp_path/data``."""
    return write_homelab(tmp_path / "homelab", data_root=tmp_path / "data")


def tree_digest(root: Path) -> dict[str, str]:
    """Every file under ``root`` and the sha256 of its bytes."""
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }
