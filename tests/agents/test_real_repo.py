"""Plans are exactly what runs, on a repository laid out like a real one (tests/repos/pi-media:
a site playbook importing one playbook per group, plays of ``hosts: <group>``, roles with
defaults, an INI inventory with groups, children, group_vars and host_vars, three "hosts"
that are all this machine).

Which hosts a run touched is asserted from Ansible's own recap (the repository's callback
plugin writes it to $HOST_RECAP_FILE), not from Chiffon's records.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from chiffon.agents.infra import run_playbook
from chiffon.agents.infra.ansible import extra_vars
from chiffon.catalog import Catalog, load_catalog
from chiffon.planning.errors import InvalidPlan
from chiffon.planning.validation import validate_plan
from chiffon.protocol import HostStats, Plan, PlanStep

REPO = Path(__file__).resolve().parents[1] / "repos" / "pi-media"


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Catalog:
    root = tmp_path / "pi-media"
    shutil.copytree(REPO, root)
    monkeypatch.setenv("HOST_RECAP_FILE", str(tmp_path / "recap.jsonl"))
    return load_catalog(root)


def recaps(catalog: Catalog) -> list[dict[str, dict[str, int]]]:
    """Ansible's recap of every run so far, as the repository's callback wrote it."""
    path = catalog.root.parent / "recap.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def planned(catalog: Catalog, playbook: str, hosts: tuple[str, ...], **variables: Any) -> PlanStep:
    plan = Plan(
        request="test",
        steps=(PlanStep(playbook=playbook, hosts=hosts, variables=variables),),
        planner="catalog",
        confidence=1.0,
    )
    (step,) = validate_plan(plan, catalog).steps
    return step


async def run(catalog: Catalog, step: PlanStep, tmp_path: Path) -> Any:
    return await run_playbook(
        catalog,
        step.playbook,
        step.hosts,
        step.variables,
        target_root=tmp_path / "target",
        work_dir=tmp_path / "work",
    )


async def test_a_group_play_planned_on_one_host_touches_that_host_only(
    repo: Catalog, tmp_path: Path
) -> None:
    step = planned(repo, "jellyfin", ("pi2",))
    assert step.hosts == ("pi2",)
    outcome = await run(repo, step, tmp_path)
    assert outcome.status == "succeeded", outcome.failure
    # Ansible's own recap: pi2, and neither pi1 (also in `media`) nor pi3.
    (recap,) = recaps(repo)
    assert list(recap) == ["pi2"]
    assert list(outcome.stats) == ["pi2"]
    assert not (tmp_path / "target" / "pi1").exists()
    conf = (tmp_path / "target" / "pi2" / "jellyfin" / "jellyfin.conf").read_text()
    # The repository's own values: group_vars/media.yml, host_vars/pi2.yml, role defaults.
    assert conf == "port=8096\nconfig_dir=/mnt/usb/jellyfin\ncache_mb=512\n"
    again = await run(repo, step, tmp_path)
    assert again.stats == {"pi2": HostStats(ok=3, changed=0)}  # facts, two tasks
    assert [list(r) for r in recaps(repo)] == [["pi2"], ["pi2"]]


async def test_a_site_playbook_is_limited_too(repo: Catalog, tmp_path: Path) -> None:
    # site.yml's DNS play has no host under --limit pi1: skipped, the step still succeeds.
    outcome = await run(repo, planned(repo, "site", ("pi1",)), tmp_path)
    assert outcome.status == "succeeded", outcome.failure
    assert recaps(repo) == [{"pi1": recaps(repo)[0]["pi1"]}]
    assert not (tmp_path / "target" / "pi3").exists()


def test_the_plan_takes_the_repository_s_values_and_passes_none_of_them(repo: Catalog) -> None:
    step = planned(repo, "jellyfin", ("pi1", "pi2"))
    # The catalog's defaults (/opt/jellyfin/config) lose to group_vars; cache_mb differs per
    # host (role default 256 on pi1, host_vars 512 on pi2): left to the repository.
    assert step.variables == {"jellyfin_port": 8096, "jellyfin_config_dir": "/mnt/usb/jellyfin"}
    assert extra_vars(repo, "jellyfin", step.hosts, step.variables) == {}
    sources = repo.repository_values("jellyfin", step.hosts)
    where = {
        name: {h: v.where(repo.root) for h, v in hosts.items()} for name, hosts in sources.items()
    }
    assert where["jellyfin_config_dir"]["pi1"] == "inventory/group_vars/media.yml:2 (group media)"
    assert where["jellyfin_cache_mb"] == {
        "pi1": "roles/jellyfin/defaults/main.yml:3 (role jellyfin defaults)",
        "pi2": "inventory/host_vars/pi2.yml:1 (host pi2)",
    }
    # A catalog default the role's defaults contradict is not passed either.
    dns = planned(repo, "pihole", ("pi3",))
    assert dns.variables == {"pihole_dns": "1.1.1.1"}
    assert extra_vars(repo, "pihole", dns.hosts, dns.variables) == {}


async def test_a_value_the_plan_changes_is_passed_and_wins(repo: Catalog, tmp_path: Path) -> None:
    step = planned(repo, "jellyfin", ("pi2",), jellyfin_port=9000)
    assert extra_vars(repo, "jellyfin", step.hosts, step.variables) == {"jellyfin_port": 9000}
    outcome = await run(repo, step, tmp_path)
    assert outcome.status == "succeeded", outcome.failure
    conf = (tmp_path / "target" / "pi2" / "jellyfin" / "jellyfin.conf").read_text()
    assert conf == "port=9000\nconfig_dir=/mnt/usb/jellyfin\ncache_mb=512\n"


def test_a_host_no_play_targets_is_refused_with_the_reason(repo: Catalog) -> None:
    with pytest.raises(InvalidPlan) as caught:
        planned(repo, "pihole", ("pi1",))
    assert caught.value.reasons == [
        "step 1 (pihole): no play of playbooks/dns.yml runs on 'pi1', so the run would do "
        'nothing there: play "DNS" (playbooks/dns.yml:2) targets "dns" (pi3)'
    ]


def test_a_play_whose_hosts_are_known_only_at_run_time_is_refused(repo: Catalog) -> None:
    (repo.root / "playbooks/dns.yml").write_text(
        '- name: DNS\n  hosts: "{{ dns_target }}"\n  roles: [pihole]\n'
    )
    with pytest.raises(InvalidPlan) as caught:
        planned(repo, "pihole", ("pi3",))
    (reason,) = caught.value.reasons
    assert reason.startswith(
        'step 1 (pihole): play "DNS" (playbooks/dns.yml:1) targets "{{ dns_target }}", which '
        'depends on "dns_target", known only once the run starts'
    )
