"""Host patterns evaluated without Ansible give the hosts Ansible itself lists for them
(``ansible PATTERN --list-hosts``), on an INI inventory laid out like a homelab's."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from chiffon.catalog import load_inventory
from chiffon.catalog.plays import Unresolvable, pattern_hosts, resolved_pattern

ANSIBLE = Path(sys.executable).parent / "ansible"

INVENTORY = """\
[media]
pi1
pi2
[dns]
pi3
dns-backup
[pis:children]
media
dns
[nas]
nas1
"""

PATTERNS = [
    "all", "media", "pis:!dns", "pis:&media", "media,nas", "pi*", "~pi[12]", "dns:nas:!pi3",
    "nothing", "fe80::1",
]  # fmt: skip


def ansible_hosts(inventory: Path, pattern: str) -> list[str]:
    done = subprocess.run(
        [str(ANSIBLE), pattern, "-i", str(inventory), "--list-hosts"],
        capture_output=True, text=True, cwd=inventory.parent, check=False,
    )  # fmt: skip
    lines = [line.strip() for line in done.stdout.splitlines()]
    return [line for line in lines if line and not line.startswith("hosts (")]


@pytest.mark.parametrize("pattern", PATTERNS)
def test_a_pattern_names_the_hosts_ansible_lists(tmp_path: Path, pattern: str) -> None:
    path = tmp_path / "hosts.ini"
    path.write_text(INVENTORY)
    ours = pattern_hosts(load_inventory(path), pattern)
    assert sorted(ours) == sorted(ansible_hosts(path, pattern))


def test_templates_are_filled_as_ansible_playbook_will_or_refused() -> None:
    chiffon = "{{ chiffon_hosts | default('media') }}"
    assert resolved_pattern(chiffon, ["pi2"], {}) == "pi2"
    assert resolved_pattern("{{ target | default('dns') }}", [], {}) == "dns"
    assert resolved_pattern("{{ target }}:!pi3", [], {"target": "pis"}) == "pis:!pi3"
    with pytest.raises(Unresolvable):
        resolved_pattern("{{ target }}", ["pi2"], {})
