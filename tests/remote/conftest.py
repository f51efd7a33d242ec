"""The ``remote_lab`` fixture: a homelab of this test's own, spread over processes that talk
through the machine's RabbitMQ."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .lab import RemoteLab


@pytest.fixture
def remote_lab(tmp_path: Path, own_database: str, amqp_url: str) -> Iterator[RemoteLab]:
    # A database of its own: the lab's `chiffon serve` takes over and resumes the unfinished
    # runs of dead processes it finds, which other tests leave behind.
    lab = RemoteLab(tmp_path, own_database, amqp_url)
    try:
        yield lab
    finally:
        lab.close()
