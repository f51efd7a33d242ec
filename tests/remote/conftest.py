"""The ``remote_lab`` fixture: a homelab of this test's own, spread over processes that talk
through the machine's RabbitMQ."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .lab import RemoteLab


@pytest.fixture
def remote_lab(tmp_path: Path, machine_dsn: str, amqp_url: str) -> Iterator[RemoteLab]:
    lab = RemoteLab(tmp_path, machine_dsn, amqp_url)
    try:
        yield lab
    finally:
        lab.close()
