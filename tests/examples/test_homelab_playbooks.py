"""The homelab catalog's playbooks, run for real against localhost through the infra agent's
run_playbook: every entry deploys into a target root, a second run changes nothing, and the
Uptime Kuma monitors follow the reverse proxy's portals.

The whole catalog is deployed once per module (a module-scoped fixture) and each test reads
what it wrote; the idempotence test runs each entry a second time, one entry per test.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import anyio
import pytest
import yaml

from chiffon.agents.infra import PlaybookOutcome, run_playbook
from chiffon.catalog import Catalog, load_catalog

HOMELAB = Path(__file__).resolve().parents[2] / "examples" / "homelab"

# Deploy order: what each entry's `after` asks for (the planner orders plans the same way).
ORDER = (
    "node-exporter",
    "prometheus",
    "grafana",
    "uptime-kuma",
    "nginx-proxy-manager",
    "uptime-kuma-monitors",
    "pihole",
    "home-assistant",
    "ollama",
    "vaultwarden",
    "backup",
)
VARIABLES: dict[str, dict[str, Any]] = {
    "uptime-kuma-monitors": {"monitor_interval": 30, "monitor_retries": 3},
    "grafana": {"grafana_admin_password": "grafana-Secret-42"},
}
COMPOSED = {  # service directory -> (catalog entry, image variable)
    "uptime-kuma": ("uptime-kuma", "kuma_image"),
    "grafana": ("grafana", "grafana_image"),
    "prometheus": ("prometheus", "prometheus_image"),
    "pihole": ("pihole", "pihole_image"),
    "nginx-proxy-manager": ("nginx-proxy-manager", "npm_image"),
    "home-assistant": ("home-assistant", "hass_image"),
    "ollama": ("ollama", "ollama_image"),
    "vaultwarden": ("vaultwarden", "vaultwarden_image"),
}
# entry -> (its directory under srv/, what its removal keeps unless told to delete its data)
REMOVABLE = {
    "grafana": ("grafana", "data"),
    "uptime-kuma": ("uptime-kuma", "data"),
    "pihole": ("pihole", "etc-pihole"),
    "ollama": ("ollama", "models"),
}


def run_entry(
    catalog: Catalog, entry_id: str, target: Path, work: Path, *, check: bool = False
) -> PlaybookOutcome:
    hosts = catalog.inventory.resolve(catalog.entries[entry_id].hosts)

    async def run() -> PlaybookOutcome:
        return await run_playbook(
            catalog,
            entry_id,
            hosts,
            VARIABLES.get(entry_id, {}),
            target_root=target,
            work_dir=work / entry_id,
            check=check,
        )

    return anyio.run(run)


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(HOMELAB)


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("homelab") / "target"


@pytest.fixture(scope="module")
def first_round(catalog: Catalog, target: Path) -> dict[str, PlaybookOutcome]:
    work = target.parent / "work-1"
    return {entry: run_entry(catalog, entry, target, work) for entry in ORDER}


@pytest.fixture(scope="module")
def portals() -> list[Mapping[str, Any]]:
    data = yaml.safe_load((HOMELAB / "files" / "proxy-hosts.yml").read_text())
    return list(data["portals"])


def test_the_catalog_loads_and_every_play_targets_chiffon_hosts_or_its_default_group(
    catalog: Catalog,
) -> None:
    assert set(catalog.deployable()) == set(ORDER)
    assert {e.removes for e in catalog.entries.values() if e.removes} == set(REMOVABLE)
    for entry in catalog.entries.values():
        plays = yaml.safe_load(catalog.playbook_path(entry.id).read_text())
        for play in plays:
            assert play["hosts"] == f"{{{{ chiffon_hosts | default('{entry.hosts}') }}}}"
            assert play["gather_facts"] is False


def test_every_playbook_passes_ansible_syntax_check(catalog: Catalog) -> None:
    playbooks = [str(catalog.playbook_path(entry)) for entry in catalog.entries]
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "ansible-playbook"),
            "--syntax-check",
            "-i",
            str(catalog.inventory.path),
            *playbooks,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


# The module's first round (every entry deployed once, one ansible-playbook each) runs inside
# this test, the first to ask for it: on a loaded 2-core machine that takes minutes.
@pytest.mark.timeout(600)
def test_a_first_run_of_every_entry_changes_every_host_it_targets(
    catalog: Catalog, first_round: dict[str, PlaybookOutcome]
) -> None:
    for entry, outcome in first_round.items():
        assert outcome.status == "succeeded", (entry, outcome.failure)
        hosts = set(catalog.inventory.resolve(catalog.entries[entry].hosts))
        assert set(outcome.stats) == hosts, entry
        assert all(s.changed > 0 for s in outcome.stats.values()), (entry, outcome.stats)


@pytest.mark.parametrize("entry", ORDER)
def test_a_second_run_changes_nothing_and_fires_no_handler(
    entry: str, catalog: Catalog, target: Path, first_round: dict[str, PlaybookOutcome]
) -> None:
    before = snapshot(target)
    outcome = run_entry(catalog, entry, target, target.parent / "work-2")
    assert outcome.status == "succeeded", outcome.failure
    assert outcome.stats
    assert {h: s.changed for h, s in outcome.stats.items()} == dict.fromkeys(outcome.stats, 0)
    # Handlers append to pending-actions when they fire: byte for byte, nothing moved.
    assert snapshot(target) == before


def test_every_service_has_a_compose_file_with_the_pinned_image_ports_and_healthcheck(
    catalog: Catalog, target: Path, first_round: dict[str, PlaybookOutcome]
) -> None:
    for service, (entry, image_variable) in COMPOSED.items():
        (host,) = catalog.inventory.resolve(catalog.entries[entry].hosts)
        compose = yaml.safe_load((target / host / "srv" / service / "compose.yaml").read_text())
        (definition,) = compose["services"].values()
        assert definition["image"] == catalog.entries[entry].variables[image_variable].default
        assert definition["restart"] == "unless-stopped"
        assert definition["healthcheck"]["test"]
        assert definition["ports"]


def test_restarts_are_requested_once_per_deployed_service(
    target: Path, first_round: dict[str, PlaybookOutcome]
) -> None:
    actions = (target / "core" / "var/lib/homelab/pending-actions").read_text().splitlines()
    requested = [line.split(" ", 2)[1:] for line in actions]
    assert [r[1].split(":")[0] for r in requested if r[0] == "restart"] == [
        "node_exporter",
        "prometheus",
        "grafana",
        "uptime-kuma",
        "nginx-proxy-manager",
        "ollama",
        "vaultwarden",
        "homelab-backup.timer",
    ]


def test_prometheus_scrapes_the_node_exporter_of_every_homelab_host(
    catalog: Catalog, target: Path, first_round: dict[str, PlaybookOutcome]
) -> None:
    config = yaml.safe_load((target / "core/srv/prometheus/config/prometheus.yml").read_text())
    (node,) = [job for job in config["scrape_configs"] if job["job_name"] == "node"]
    scraped = {c["labels"]["host"]: c["targets"] for c in node["static_configs"]}
    lan = {
        h: yaml.safe_load((HOMELAB / "host_vars" / f"{h}.yml").read_text())["lan_ip"]
        for h in scraped
    }
    assert set(scraped) == set(catalog.inventory.groups["homelab"])
    assert scraped == {h: [f"{lan[h]}:9100"] for h in scraped}
    assert all((target / h / "etc/systemd/system/node_exporter.service").is_file() for h in scraped)


def test_grafana_is_provisioned_with_prometheus_and_its_password_stays_private(
    target: Path, first_round: dict[str, PlaybookOutcome]
) -> None:
    grafana = target / "core/srv/grafana"
    datasources = yaml.safe_load((grafana / "provisioning/datasources/prometheus.yml").read_text())
    assert datasources["datasources"][0]["url"] == "http://core.home.arpa:9090"
    env = grafana / "grafana.env"
    assert "GF_SECURITY_ADMIN_PASSWORD=grafana-Secret-42\n" in env.read_text()
    assert env.stat().st_mode & 0o777 == 0o600
    assert "grafana-Secret-42" not in first_round["grafana"].output_tail


def test_pihole_resolves_every_host_and_sends_every_portal_to_the_proxy(
    target: Path, portals: list[Mapping[str, Any]], first_round: dict[str, PlaybookOutcome]
) -> None:
    records = [
        line.split()
        for line in (target / "pi/srv/pihole/etc-pihole/custom.list").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    names = {name: address for address, name in records}
    assert names["pi.home.arpa"] == "192.168.1.2"
    assert {p["domain"] for p in portals} <= set(names)
    assert {names[p["domain"]] for p in portals} == {"192.168.1.10"}


def test_the_proxy_serves_every_portal_and_backups_cover_every_service_directory(
    target: Path, portals: list[Mapping[str, Any]], first_round: dict[str, PlaybookOutcome]
) -> None:
    proxy = (target / "core/srv/nginx-proxy-manager/data/nginx/custom/http.conf").read_text()
    for portal in portals:
        assert f"server_name {portal['domain']};" in proxy
        assert f"proxy_pass {portal['upstream']};" in proxy
    paths = (target / "core/etc/restic/paths").read_text().split()
    assert paths == sorted(str(p) for p in (target / "core/srv").iterdir())
    timer = (target / "core/etc/systemd/system/homelab-backup.timer").read_text()
    assert "OnCalendar=*-*-* 03:30:00" in timer


def test_the_monitors_playbook_writes_one_http_monitor_per_portal(
    target: Path, portals: list[Mapping[str, Any]], first_round: dict[str, PlaybookOutcome]
) -> None:
    backup = json.loads((target / "core/srv/uptime-kuma/data/chiffon-monitors.json").read_text())
    assert backup["version"] == "1.23.16"
    monitors = backup["monitorList"]
    assert [m["name"] for m in monitors] == [p["name"] for p in portals]
    assert [m["url"] for m in monitors] == [
        f"https://{p['domain']}{p.get('path', '/')}" for p in portals
    ]
    assert {(m["type"], m["interval"], m["maxretries"]) for m in monitors} == {("http", 30, 3)}
    assert len({m["id"] for m in monitors}) == len(portals)


def test_the_monitors_playbook_fails_clearly_when_uptime_kuma_is_not_deployed(
    catalog: Catalog, tmp_path: Path
) -> None:
    outcome = run_entry(catalog, "uptime-kuma-monitors", tmp_path / "target", tmp_path / "work")
    assert outcome.status == "failed"
    assert outcome.failure is not None
    assert (outcome.failure.host, outcome.failure.task) == (
        "core",
        "Check that Uptime Kuma is deployed on this host",
    )
    compose = tmp_path / "target/core/srv/uptime-kuma/compose.yaml"
    assert outcome.failure.error == (
        f"Uptime Kuma is not deployed on core: {compose} does not exist. "
        "Run the uptime-kuma playbook on this host first."
    )


def test_in_check_mode_the_monitors_playbook_previews_before_kuma_is_deployed(
    catalog: Catalog, tmp_path: Path
) -> None:
    outcome = run_entry(
        catalog, "uptime-kuma-monitors", tmp_path / "target", tmp_path / "work", check=True
    )
    assert outcome.status == "succeeded", outcome.failure
    monitors = tmp_path / "target/core/srv/uptime-kuma/data/chiffon-monitors.json"
    assert f"+++ after: {monitors}\n" in outcome.diff
    assert '+      "name": "Grafana",\n' in outcome.diff
    assert snapshot(tmp_path / "target") == {}


@pytest.mark.parametrize("entry", sorted(REMOVABLE))
def test_a_removal_deletes_what_the_deploy_wrote_and_keeps_the_data_unless_told(
    entry: str, catalog: Catalog, tmp_path: Path
) -> None:
    service, data = REMOVABLE[entry]
    removal = f"remove-{entry}"
    target, work = tmp_path / "target", tmp_path / "work"
    assert run_entry(catalog, entry, target, work).status == "succeeded"
    (host,) = catalog.inventory.resolve(catalog.entries[entry].hosts)
    home = target / host / "srv" / service
    assert (home / "compose.yaml").is_file()

    removed = run_entry(catalog, removal, target, work)
    assert removed.status == "succeeded", removed.failure
    assert all(s.changed > 0 for s in removed.stats.values())
    assert not (home / "compose.yaml").exists()
    assert (home / data).is_dir()
    actions = (target / host / "var/lib/homelab/pending-actions").read_text().splitlines()
    assert actions[-1].endswith(f"remove {entry}: docker rm -f {service}")

    before = snapshot(target)
    again = run_entry(catalog, removal, target, work)
    assert again.status == "succeeded", again.failure
    assert {h: s.changed for h, s in again.stats.items()} == dict.fromkeys(again.stats, 0)
    assert snapshot(target) == before

    (remove_data,) = catalog.entries[removal].variables

    async def with_data() -> PlaybookOutcome:
        return await run_playbook(
            catalog, removal, (host,), {remove_data: True}, target_root=target,
            work_dir=work / "data",
        )  # fmt: skip

    assert anyio.run(with_data).status == "succeeded"
    assert not home.exists()
