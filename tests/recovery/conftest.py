"""The ``lab`` fixture: a homelab of this test's own on the session's machine database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .lab import Lab


@pytest.fixture
def lab(tmp_path: Path, machine_dsn: str) -> Iterator[Lab]:
    lab = Lab(tmp_path, machine_dsn)
    try:
        yield lab
    finally:
        lab.close()
