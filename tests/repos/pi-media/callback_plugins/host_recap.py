"""Ansible's own per-host recap, one JSON line per playbook run, appended to the file
$HOST_RECAP_FILE names: the tests' evidence of which hosts a run touched."""

from __future__ import annotations

import json
import os
from typing import Any

from ansible.plugins.callback import CallbackBase  # type: ignore[import-untyped]  # no stubs


class CallbackModule(CallbackBase):  # type: ignore[misc]  # CallbackBase is untyped
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "host_recap"
    CALLBACK_NEEDS_ENABLED = True

    def v2_playbook_on_stats(self, stats: Any) -> None:
        path = os.environ.get("HOST_RECAP_FILE")
        if path:
            recap = {host: stats.summarize(host) for host in sorted(stats.processed)}
            with open(path, "a") as out:
                out.write(json.dumps(recap) + "\n")
