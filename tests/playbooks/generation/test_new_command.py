"""``chiffon playbooks new`` in a real process: a service not in the catalog becomes a
playbook and role that pass the syntax check and lint, join the catalog, deploy into a target
root with real Ansible, and change nothing on a second run; bad arguments and failing checks
write nothing.

The service is generated once per module (a module-scoped fixture); each test reads what it
wrote, and the deployment tests share one target root.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import anyio
import pytest

from chiffon.agents.infra import PlaybookOutcome, run_playbook
from chiffon.catalog import Catalog, load_catalog
from chiffon.playbooks.lint import lint
from tests.playbooks.generation.conftest import (
    HOMELAB,
    ansible_syntax_check,
    chiffon,
    load_yaml,
    process_env,
    snapshot,
    words,
)

pytestmark = pytest.mark.slow

IMAGE = "traefik/whoami:v1.10.3"
ARGS = (
    "whoami", "--image", IMAGE, "--port", "8000", "--container-port", "80",
    "--volume", "data:/data", "--volume", "/srv/shared:/shared:ro",
    "--env", "TZ=Europe/Paris", "--env", "WHOAMI_NAME=homelab", "--env", "API_TOKEN=tok-Secret-42",
    "--hosts", "monitoring", "--synonym", "echo server",
)  # fmt: skip


@pytest.fixture(scope="module")
def place(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("new-command")
    shutil.copytree(HOMELAB, base / "catalog")
    return base


@pytest.fixture(scope="module")
def created(place: Path) -> dict[str, Any]:
    done = chiffon(
        "playbooks", "new", *ARGS, "--catalog", str(place / "catalog"), "--json",
        env=process_env(place),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


@pytest.fixture(scope="module")
def catalog(place: Path, created: dict[str, Any]) -> Catalog:
    return load_catalog(place / "catalog")


def deploy(catalog: Catalog, target: Path, work: Path) -> PlaybookOutcome:
    hosts = catalog.inventory.resolve(catalog.entries["whoami"].hosts)

    async def run() -> PlaybookOutcome:
        return await run_playbook(catalog, "whoami", hosts, {}, target_root=target, work_dir=work)

    return anyio.run(run)


@pytest.fixture(scope="module")
def first_deploy(place: Path, catalog: Catalog) -> PlaybookOutcome:
    return deploy(catalog, place / "target", place / "work-1")


def test_the_command_reports_the_entry_its_files_and_checks_with_secrets_hidden(
    created: dict[str, Any], place: Path
) -> None:
    assert created["status"] == "added"
    assert (created["entry"], created["hosts"]) == ("whoami", "monitoring")
    assert created["risk"] == "medium"
    assert created["playbook"] == "generated/whoami/whoami.yml"
    assert created["files"] == [
        "generated/whoami/whoami.yml",
        "generated/whoami/roles/whoami/tasks/main.yml",
        "generated/whoami/roles/whoami/handlers/main.yml",
        "generated/whoami/roles/whoami/defaults/main.yml",
        "generated/whoami/roles/whoami/templates/compose.yaml.j2",
        "generated/whoami/roles/whoami/templates/whoami.env.j2",
    ]
    for name in created["files"]:
        assert (place / "catalog" / name).is_file(), name
    assert created["variables"] == {
        "whoami_port": 8000, "whoami_image": IMAGE, "whoami_tz": "Europe/Paris",
        "whoami_whoami_name": "homelab", "whoami_api_token": "***",
    }  # fmt: skip
    assert created["secret"] == ["whoami_api_token"]
    assert "tok-Secret-42" not in json.dumps(created)
    assert created["warnings"]
    assert created["warnings"][0].startswith("API_TOKEN looks secret")
    assert created["checks"]["syntax_s"] > 0
    assert created["checks"]["lint_s"] > 0


def test_the_catalog_keeps_its_text_and_loads_with_the_typed_entry(
    created: dict[str, Any], place: Path, catalog: Catalog
) -> None:
    original = (HOMELAB / "catalog.yml").read_text()
    assert (place / "catalog" / "catalog.yml").read_text().startswith(original)
    entry = catalog.entries["whoami"]
    assert entry.services == ("whoami",)
    assert entry.synonyms == ("echo server",)
    assert "generated" in entry.tags
    assert entry.variables["whoami_image"].default == IMAGE
    assert entry.variables["whoami_port"].type == "int"
    assert entry.variables["whoami_api_token"].secret
    assert entry.variables["whoami_api_token"].default == "tok-Secret-42"
    assert catalog.digest("whoami") == created["digest"]


def test_the_installed_playbook_passes_the_syntax_check_and_lint(
    catalog: Catalog, lint_cache: Path
) -> None:
    playbook = catalog.playbook_path("whoami")
    done = ansible_syntax_check(catalog.inventory.path, playbook)
    assert done.returncode == 0, done.stdout + done.stderr

    async def findings() -> list[str]:
        return [f"{f.path}:{f.line}: {f.rule}" for f in await lint([playbook], root=catalog.root)]

    assert anyio.run(findings) == []


def test_it_deploys_the_pinned_image_its_port_volumes_and_environment(
    place: Path, first_deploy: PlaybookOutcome
) -> None:
    assert first_deploy.status == "succeeded", first_deploy.failure
    assert {h: s.changed > 0 for h, s in first_deploy.stats.items()} == {"core": True}
    service = place / "target" / "core" / "srv" / "whoami"
    compose = load_yaml(service / "compose.yaml")["services"]["whoami"]
    assert compose["image"] == IMAGE
    assert compose["ports"] == ["8000:80"]
    assert compose["volumes"] == ["./data:/data", f"{place}/target/core/srv/shared:/shared:ro"]
    assert (compose["restart"], compose["env_file"]) == ("unless-stopped", "whoami.env")
    assert (service / "data").is_dir()
    env = service / "whoami.env"
    assert env.read_text().splitlines()[1:] == [
        "TZ=Europe/Paris", "WHOAMI_NAME=homelab", "API_TOKEN=tok-Secret-42",
    ]  # fmt: skip
    assert env.stat().st_mode & 0o777 == 0o600
    assert "tok-Secret-42" not in first_deploy.output_tail
    pending = (place / "target" / "core" / "var/lib/homelab/pending-actions").read_text()
    assert pending.count("restart whoami: docker compose -f") == 1


def test_a_second_run_changes_nothing_on_every_host(
    place: Path, catalog: Catalog, first_deploy: PlaybookOutcome
) -> None:
    before = snapshot(place / "target")
    again = deploy(catalog, place / "target", place / "work-2")
    assert again.status == "succeeded", again.failure
    assert again.stats
    assert {h: s.changed for h, s in again.stats.items()} == dict.fromkeys(again.stats, 0)
    assert snapshot(place / "target") == before


def test_the_text_output_lists_the_files_and_what_to_run_next(tmp_path: Path) -> None:
    shutil.copytree(HOMELAB, tmp_path / "catalog")
    done = chiffon(
        "playbooks", "new", "freshrss", "--image", "freshrss/freshrss:1.24.3", "--port", "8082",
        "--container-port", "80", "--catalog", str(tmp_path / "catalog"),
        env={**process_env(tmp_path), "COLUMNS": "200"},
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    text = words(done.stdout)
    index = tmp_path / "catalog" / "catalog.yml"
    assert f"added freshrss to {index} (hosts monitoring, risk medium)" in text
    assert "syntax check passed" in text
    assert "ansible-lint found nothing" in text
    assert "generated/freshrss/roles/freshrss/tasks/main.yml" in text
    assert f'next: chiffon run --catalog {tmp_path}/catalog "Deploy freshrss"' in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("Whoami", "--image", IMAGE, "--port", "8000"),
         'service name "Whoami" is invalid: use lowercase letters'),
        (("grafana", "--image", IMAGE, "--port", "8000"),
         "\"grafana\" is already in the catalog: catalog.yml has an entry 'grafana'"),
        (("whoami", "--image", "traefik/whoami:latest", "--port", "8000"),
         'image "traefik/whoami:latest" is on the latest tag: pin a version'),
        (("whoami", "--image", "traefik/whoami", "--port", "8000"),
         'image "traefik/whoami" has no tag'),
        (("whoami", "--image", IMAGE, "--port", "70000"),
         "port 70000 is out of range: a port is between 1 and 65535"),
        (("whoami", "--image", IMAGE, "--port", "8000", "--volume", "data"),
         'volume "data" is invalid: write HOST:CONTAINER or HOST:CONTAINER:ro'),
        (("whoami", "--image", IMAGE, "--port", "8000", "--env", "TZ"),
         'environment variable "TZ" is invalid: write KEY=VALUE'),
        (("whoami", "--image", IMAGE, "--port", "8000", "--hosts", "kitchen"),
         'hosts "kitchen" is not a group or host of the inventory'),
    ],
)  # fmt: skip
def test_bad_arguments_exit_2_with_the_reason_and_write_nothing(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    shutil.copytree(HOMELAB, tmp_path / "catalog")
    before = snapshot(tmp_path / "catalog")
    done = chiffon(
        "playbooks", "new", *args, "--catalog", str(tmp_path / "catalog"), env=process_env(tmp_path)
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.startswith("chiffon: "), done.stderr
    assert message in words(done.stderr)
    assert snapshot(tmp_path / "catalog") == before


def test_failing_checks_exit_1_saying_which_and_write_nothing(tmp_path: Path) -> None:
    shutil.copytree(HOMELAB, tmp_path / "catalog")
    before = snapshot(tmp_path / "catalog")
    # A real failure of Ansible itself: a configuration file it cannot read.
    broken = tmp_path / "broken.cfg"
    broken.write_text("[defaults\n")
    done = chiffon(
        "playbooks", "new", "whoami", "--image", IMAGE, "--port", "8000",
        "--catalog", str(tmp_path / "catalog"),
        env=process_env(tmp_path, ANSIBLE_CONFIG=str(broken)),
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    said = words(done.stderr)
    assert "the playbook generated for whoami did not pass its checks:" in said
    assert "ansible-playbook --syntax-check: ERROR: Error reading config file" in said
    assert snapshot(tmp_path / "catalog") == before
