"""The built-in table of well-known services: every row is a valid, pinned spec whose
generated playbook passes the syntax check and ansible-lint; requests' words find them."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from chiffon.playbooks.generation.known import find_known, known_services
from chiffon.playbooks.generation.scaffold import write
from chiffon.playbooks.lint import lint
from tests.playbooks.generation.conftest import HOMELAB, ansible_syntax_check, load_yaml


def test_every_row_is_a_pinned_spec_with_a_title_a_description_and_unique_names() -> None:
    rows = known_services()
    assert len(rows) >= 6
    names = [row.name for row in rows]
    assert len(set(names)) == len(names)
    for row in rows:
        spec = row.spec()
        assert spec.image.split(":")[-1] not in ("", "latest")
        assert spec.title
        assert spec.description.startswith("Deploy ")
        assert spec.risk == "medium"


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ("jellyfin", ("jellyfin",)),
        ("jelly fin", ("jellyfin",)),
        ("jellyfn", ("jellyfin",)),  # one edit
        ("bitwarden", ("vaultwarden",)),
        ("password manager", ("vaultwarden",)),
        ("rss readers", ("freshrss",)),
        ("music server", ("navidrome",)),
        ("freshness", ()),  # two edits from freshrss: not taken for it
        ("coffee machine", ()),
        ("", ()),
    ],
)
def test_a_service_is_found_by_name_synonym_plural_or_a_single_misspelling(
    words: str, expected: tuple[str, ...]
) -> None:
    assert tuple(k.name for k in find_known(words)) == expected


@pytest.mark.slow
def test_the_playbook_of_every_known_service_passes_the_syntax_check_and_lint(
    tmp_path: Path, lint_cache: Path
) -> None:
    playbooks = []
    for row in known_services():
        scaffold = write(row.spec(), "storage", tmp_path)
        playbooks.append(tmp_path / scaffold.entry.playbook)
        plays = load_yaml(playbooks[-1])
        assert plays[0]["hosts"] == "{{ chiffon_hosts | default('storage') }}"
        assert plays[0]["gather_facts"] is False
    done = ansible_syntax_check(HOMELAB / "inventory.yml", *playbooks)
    assert done.returncode == 0, done.stdout + done.stderr

    async def findings() -> list[str]:
        found = await lint(playbooks, root=tmp_path, cache_dir=lint_cache)
        return [f"{f.path}:{f.line}: {f.rule}" for f in found]

    assert anyio.run(findings) == []
