"""Resident memory of this process, for bytes-per-actor figures."""

from __future__ import annotations


def rss_bytes() -> int:
    import psutil

    return int(psutil.Process().memory_info().rss)
