"""Inventories read without Ansible, checked against Ansible itself: for INI, YAML and
directory inventories laid out like homelab repositories, the hosts, groups and merged host
variables ``load_inventory`` gives are those ``ansible-inventory --list`` prints. Bad input
is an ``InventoryError`` naming the file and the line."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from chiffon.catalog import (
    CatalogError,
    Inventory,
    InventoryError,
    Vaulted,
    load_catalog,
    load_inventory,
)

ANSIBLE_INVENTORY = Path(sys.executable).parent / "ansible-inventory"

INI = """\
# the homelab
[pis]
pi[1:3] ansible_connection=local port_x=8080
nas.lan:2222 ansible_user=admin  # the NAS

[web]
pi1 weight=1.5 enabled=True
db-[a:b]
node[01:03:2]

[media:children]
web
pis

[media:vars]
media_root=/srv/media
jellyfin_port = 8096
flag=yes

[all:vars]
tz=Europe/Paris
"""

YAML = """\
all:
  vars:
    tz: Europe/Paris
  hosts:
    lonely:
  children:
    media:
      vars:
        media_root: /srv/media
      children:
        web:
          hosts:
            pi1: {weight: 1.5}
            db-[a:b]:
        pis:
          hosts:
            pi[1:3]:
              ansible_connection: local
            nas.lan:2222:
              ansible_user: admin
    backups:
      vars:
        ansible_group_priority: 5
        x: backups
      hosts:
        pi2:
"""


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


VARS_FILES = {
    "group_vars/all.yml": "tz: UTC\nx: all\n",
    "group_vars/web/main.yml": "x: web\n",
    "group_vars/web/ports.yaml": "web_port: 80\n",
    "group_vars/media.yml": "x: media\n",
    "group_vars/pis": "x: pis\n",
    "group_vars/nothere.yml": "x: a group the inventory lacks\n",
    "host_vars/pi1.yml": "x: pi1\nsecret: !vault |\n  $ANSIBLE_VAULT;1.1;AES256\n  3030\n",
    "host_vars/pi3/vault.yml": "$ANSIBLE_VAULT;1.1;AES256\n6162\n",
}


def ansible_view(path: Path) -> dict[str, Any]:
    """What ``ansible-inventory --list`` says of the inventory at ``path``."""
    done = subprocess.run(
        [str(ANSIBLE_INVENTORY), "-i", str(path), "--list"],
        capture_output=True,
        text=True,
        check=True,
        cwd=path.parent,
    )
    data: dict[str, Any] = json.loads(done.stdout)
    return data


def as_ansible(value: Any) -> Any:
    return {"__ansible_vault": value.ciphertext} if isinstance(value, Vaulted) else value


def ansible_members(view: dict[str, Any], group: str) -> set[str]:
    node = view.get(group, {})
    found = set(node.get("hosts", ()))
    for child in node.get("children", ()):
        found |= ansible_members(view, child)
    return found


def assert_same_as_ansible(inventory: Inventory, path: Path) -> None:
    view = ansible_view(path)
    hostvars = view["_meta"]["hostvars"]
    assert set(inventory.hosts) == ansible_members(view, "all")
    for group, members in inventory.groups.items():
        assert set(members) == ansible_members(view, group), group
        assert set(inventory.children.get(group, ())) - {"ungrouped"} == set(
            view.get(group, {}).get("children", ())
        ) - {"ungrouped"}, group
    for host in inventory.hosts:
        ours = {k: as_ansible(v) for k, v in inventory.variables(host).items()}
        assert ours == hostvars.get(host, {}), host


@pytest.mark.parametrize("kind", ["ini", "yaml"])
def test_inventory_is_what_ansible_reads(tmp_path: Path, kind: str) -> None:
    name = "hosts.ini" if kind == "ini" else "hosts.yml"
    write(tmp_path, {name: INI if kind == "ini" else YAML, **VARS_FILES})
    # Ansible reads a file encrypted whole only with the vault password.
    (tmp_path / "host_vars/pi3/vault.yml").unlink()
    inventory = load_inventory(tmp_path / name)
    assert_same_as_ansible(inventory, tmp_path / name)


def test_ini_details(tmp_path: Path) -> None:
    write(tmp_path, {"hosts.ini": INI, **VARS_FILES})
    inventory = load_inventory(tmp_path / "hosts.ini")
    assert inventory.hosts == ("pi1", "pi2", "pi3", "nas.lan", "db-a", "db-b", "node01", "node03")
    assert inventory.groups["media"] == inventory.hosts
    assert inventory.groups["web"] == ("pi1", "db-a", "db-b", "node01", "node03")
    assert inventory.group_names("pi1") == ("media", "pis", "web")
    assert inventory.children["media"] == ("web", "pis")
    pi1 = inventory.host_variables("pi1")
    assert pi1["x"].value == "pi1"
    assert pi1["x"].where(tmp_path) == "host_vars/pi1.yml:1 (host pi1)"
    assert pi1["weight"].value == 1.5
    assert pi1["enabled"].value is True
    assert pi1["port_x"].where(tmp_path) == "hosts.ini:3 (host pi1)"
    assert isinstance(pi1["secret"].value, Vaulted)
    assert inventory.host_variables("nas.lan")["ansible_port"].value == 2222
    # group_vars/all.yml beats [all:vars] (Ansible's order), [media:vars] kept with its line.
    assert pi1["tz"].where(tmp_path) == "group_vars/all.yml:1 (group all)"
    assert pi1["jellyfin_port"].where(tmp_path) == "hosts.ini:17 (group media)"
    # The deeper group wins: web (all > media > web) over pis (all > media > pis) by name.
    assert inventory.host_variables("db-a")["x"].value == "web"
    assert inventory.host_variables("pi2")["x"].value == "pis"
    assert inventory.encrypted == (tmp_path / "host_vars/pi3/vault.yml",)


def test_playbook_dir_vars_come_after_the_inventory_s(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "inventories/prod/hosts": "[web]\nw1\n",
            "inventories/prod/group_vars/web.yml": "a: inventory\nb: inventory\n",
            "group_vars/web.yml": "a: playbook\n",
            "host_vars/w1.yml": "c: playbook\n",
        },
    )
    inventory = load_inventory(tmp_path / "inventories/prod/hosts")
    merged = inventory.variables("w1", playbook_dir=tmp_path)
    assert merged == {"a": "playbook", "b": "inventory", "c": "playbook"}
    assert inventory.variables("w1") == {"a": "inventory", "b": "inventory"}


def test_a_directory_inventory(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "inv/10-hosts.ini": "[web]\nw1\nw2\n",
            "inv/20-more.yml": "all:\n  children:\n    db:\n      hosts:\n        d1:\n",
            "inv/README.md": "not an inventory [at all\n",
            "inv/group_vars/web.yml": "port: 80\n",
        },
    )
    inventory = load_inventory(tmp_path / "inv")
    assert inventory.hosts == ("w1", "w2", "d1")
    assert inventory.variables("w2") == {"port": 80}
    assert_same_as_ansible(inventory, tmp_path / "inv")


@pytest.mark.parametrize(
    ("name", "text", "line", "says"),
    [
        ("hosts.ini", "[web]\nw1\n[web:kids]\nw2\n", 3, "unknown type"),
        ("hosts.ini", "[web]\nw1 user\n", 2, "expected key=value"),
        ("hosts.ini", "[web]\nw1\n[ web ]\n", 3, "invalid section"),
        ("hosts.ini", "[web:vars]\nport=80\n", 1, "never declares"),
        ("hosts.ini", "[all:children]\nweb\n", 2, "never declares"),
        ("hosts.ini", "[web]\nw1 note='unclosed\n", 2, "cannot read host line"),
        ("hosts.ini", "[web]\nw[1:x]\n", 2, "numbers or letters"),
        ("hosts.ini", "[web]\nw1:\n", 2, "may not end in ':'"),
        ("hosts.ini", "[a:children]\nb\n[b:children]\na\n", 4, "makes a loop"),
        ("hosts.yml", "all:\n  hosts:\n    - w1\n", 3, "must be a mapping"),
        (
            "hosts.yml",
            "all:\n  children:\n    web:\n      host:\n        w1:\n",
            4,
            "unexpected key",
        ),
        ("hosts.yml", "all:\n  hosts: {w1: [\n", 3, "not valid YAML"),
    ],
)
def test_bad_input_names_file_and_line(
    tmp_path: Path, name: str, text: str, line: int, says: str
) -> None:
    (tmp_path / name).write_text(text)
    with pytest.raises(InventoryError) as caught:
        load_inventory(tmp_path / name)
    assert caught.value.path == tmp_path / name
    assert caught.value.line == line, str(caught.value)
    assert says in str(caught.value)
    assert str(caught.value).startswith(f"{tmp_path / name}:{line}: ")


def test_a_bad_group_vars_file_is_named(tmp_path: Path) -> None:
    write(tmp_path, {"hosts.ini": "[web]\nw1\n", "group_vars/web.yml": "port: [80\n"})
    with pytest.raises(InventoryError, match=r"group_vars/web\.yml:2: not valid YAML"):
        load_inventory(tmp_path / "hosts.ini")


def test_a_catalog_takes_an_ini_inventory(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "catalog.yml": """\
                inventory: inventory/hosts.ini
                entries:
                  - id: jellyfin
                    playbook: site.yml
                    description: Jellyfin media server
                    hosts: media
            """,
            "site.yml": "- hosts: media\n  tasks: []\n",
            "inventory/hosts.ini": "[media]\npi1\npi2\n",
        },
    )
    catalog = load_catalog(tmp_path)
    assert catalog.inventory.resolve("media") == ("pi1", "pi2")
    (tmp_path / "inventory/hosts.ini").write_text("[media]\npi1 user\n")
    with pytest.raises(CatalogError, match=r"hosts\.ini:2: "):
        load_catalog(tmp_path)
