"""Ansible repositories laid out the way homelab repositories on GitHub are, written for the
tests: a site playbook whose roles are tagged and behind ``*_enabled`` flags, roles with
``defaults/``, ``meta/main.yml`` and a README, an INI inventory with groups, ``group_vars``
and ``host_vars``, ``requirements.yml``, an ``ansible.cfg`` and a vault-encrypted file.

Every host but ``localhost`` is unreachable (TEST-NET addresses): a play that touches one
fails. Everything the roles write goes under ``data_root`` (``group_vars/all.yml``), a
directory of the test's.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

VAULT_PASSWORD = "test-vault-password"


def _write(root: Path, relative: str, text: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"))


def _vaulted(text: str) -> str:
    from ansible.constants import DEFAULT_VAULT_ID_MATCH  # type: ignore[import-untyped]
    from ansible.parsing.vault import VaultLib, VaultSecret  # type: ignore[import-untyped]

    vault = VaultLib([(DEFAULT_VAULT_ID_MATCH, VaultSecret(VAULT_PASSWORD.encode()))])
    return str(vault.encrypt(text).decode())


def _role(
    root: Path,
    name: str,
    *,
    description: str,
    readme: str,
    tags: list[str],
    defaults: str,
    tasks: str,
    templates: dict[str, str] | None = None,
    dependencies: list[str] | None = None,
) -> None:
    base = f"roles/{name}"
    _write(root, f"{base}/defaults/main.yml", "---\n" + textwrap.dedent(defaults).lstrip("\n"))
    _write(root, f"{base}/tasks/main.yml", "---\n" + textwrap.dedent(tasks).lstrip("\n"))
    deps = "".join(f"\n  - role: {d}" for d in dependencies or [])
    (root / base / "meta").mkdir(parents=True, exist_ok=True)
    (root / base / "meta" / "main.yml").write_text(
        "---\n"
        "galaxy_info:\n"
        "  author: homelab\n"
        f"  description: {json.dumps(description)}\n"
        "  license: MIT\n"
        '  min_ansible_version: "2.15"\n'
        f"  galaxy_tags: [{', '.join(tags)}]\n"
        f"dependencies:{deps or ' []'}\n"
    )
    _write(root, f"{base}/README.md", readme)
    for relative, text in (templates or {}).items():
        _write(root, f"{base}/templates/{relative}", text)


def write_homelab(root: Path, *, data_root: Path, services: int = 0) -> Path:
    """Write the repository at ``root`` (created); its roles write under ``data_root``.
    ``services`` adds that many generated service roles (``svc001``…) to the site playbook,
    each tagged and flagged like the others: a repository as large as the big public ones.
    Returns ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    _write(
        root,
        "ansible.cfg",
        """
        [defaults]
        inventory = hosts.ini
        roles_path = roles
        retry_files_enabled = False
        """,
    )
    _write(
        root,
        "hosts.ini",
        """
        # The homelab: this machine, and two Raspberry Pis on the LAN.
        [homelab]
        localhost ansible_connection=local

        [pis]
        pi1 ansible_host=192.0.2.11
        pi2 ansible_host=192.0.2.12

        [pis:vars]
        ansible_user=pi

        [lab:children]
        homelab
        pis
        """,
    )
    flags = "".join(f"svc{n:03d}_enabled: false\n" for n in range(1, services + 1))
    _write(
        root,
        "group_vars/all.yml",
        f"""
        ---
        # Where every service keeps its files.
        data_root: "{data_root}"
        timezone: Europe/Berlin
        whoami_enabled: true
        jellyfin_enabled: false
        pihole_enabled: true
        """,
    )
    with (root / "group_vars" / "all.yml").open("a") as file:
        file.write(flags)
    _write(
        root,
        "host_vars/localhost.yml",
        """
        ---
        ansible_python_interpreter: "{{ ansible_playbook_python }}"
        """,
    )
    (root / "group_vars" / "pis").mkdir(parents=True, exist_ok=True)
    (root / "group_vars" / "pis" / "vars.yml").write_text(
        '---\npihole_web_password: "{{ vault_pihole_web_password }}"\n'
    )
    (root / "group_vars" / "pis" / "vault.yml").write_text(
        _vaulted("vault_pihole_web_password: correct-horse-battery-staple\n")
    )
    _write(
        root,
        "requirements.yml",
        """
        ---
        collections:
          - name: community.docker
            version: ">=3.0.0"
          - name: community.general
        roles:
          - name: geerlingguy.docker
        """,
    )
    generated = "".join(
        f"    - role: svc{n:03d}\n"
        f"      tags: [svc{n:03d}]\n"
        f"      when: svc{n:03d}_enabled | default(false)\n"
        for n in range(1, services + 1)
    )
    (root / "site.yml").write_text(
        "---\n"
        "# The homelab's site playbook: every service, each behind its *_enabled flag.\n"
        "- name: Homelab services\n"
        "  hosts: homelab\n"
        "  roles:\n"
        "    - role: common\n"
        "      tags: [common]\n"
        "    - role: whoami\n"
        "      tags: [whoami]\n"
        "      when: whoami_enabled | default(false)\n"
        "    - role: jellyfin\n"
        "      tags: [jellyfin, media]\n"
        "      when: jellyfin_enabled\n" + generated + "\n"
        "- name: Raspberry Pis\n"
        "  hosts: pis\n"
        "  roles:\n"
        "    - role: pihole\n"
        "      tags: [pihole]\n"
        "      when: pihole_enabled\n"
    )
    _role(
        root,
        "common",
        description="Base settings every host gets: the message of the day.",
        readme="# common\n\nBase settings every host gets: the message of the day.\n",
        tags=["base"],
        defaults="""
        # What the message of the day says.
        common_motd: Welcome to the homelab
        """,
        tasks="""
        - name: Create the etc directory
          ansible.builtin.file:
            path: "{{ data_root }}/etc"
            state: directory
            mode: "0755"

        - name: Write the message of the day
          ansible.builtin.copy:
            content: "{{ common_motd }}\\n"
            dest: "{{ data_root }}/etc/motd"
            mode: "0644"
        """,
    )
    _role(
        root,
        "whoami",
        description="your role description",
        readme="""
        # whoami

        [![CI](https://example.org/badge.svg)](https://example.org)

        Deploys [whoami](https://github.com/traefik/whoami), a tiny **HTTP service** that
        prints what it knows of each request: handy to test the reverse proxy.

        ## Variables

        See `defaults/main.yml`.
        """,
        tags=["web", "testing"],
        dependencies=["common"],
        defaults="""
        whoami_enabled: false
        # Port the service listens on.
        whoami_port: 8080
        # The container image and its version.
        whoami_image_name: traefik/whoami
        whoami_image_version: v1.10.3
        whoami_admin_password: changeme
        whoami_hostnames:
          - whoami.lan
        whoami_labels:
          traefik.enable: "true"
        whoami_dir: "{{ data_root }}/opt/whoami"
        """,
        tasks="""
        - name: Deploy whoami
          when: whoami_enabled | bool
          block:
            - name: Create the whoami directory
              ansible.builtin.file:
                path: "{{ whoami_dir }}"
                state: directory
                mode: "0755"

            - name: Write the compose file
              ansible.builtin.template:
                src: "{{ item }}.j2"
                dest: "{{ whoami_dir }}/{{ item }}"
                mode: "0640"
              loop:
                - compose.yml
                - whoami.env
        """,
        templates={
            "compose.yml.j2": """
            services:
              whoami:
                image: "{{ whoami_image_name }}:{{ whoami_image_version }}"
                ports:
                  - "{{ whoami_port }}:80"
                env_file: whoami.env
            """,
            "whoami.env.j2": """
            WHOAMI_NAME={{ whoami_hostnames | first }}
            ADMIN_PASSWORD={{ whoami_admin_password | default('') }}
            TZ={{ timezone }}
            """,
        },
    )
    _role(
        root,
        "jellyfin",
        description="Jellyfin, a free media server for films, series and music.",
        readme="# Jellyfin\n\nThe Jellyfin media server.\n",
        tags=["media", "streaming"],
        defaults="""
        jellyfin_enabled: false
        # Port of the web interface.
        jellyfin_port: 8096
        jellyfin_image: jellyfin/jellyfin
        jellyfin_media_dir: "{{ data_root }}/media"
        """,
        tasks="""
        - name: Start Jellyfin
          when: jellyfin_enabled is true
          block:
            - name: Create the Jellyfin directories
              ansible.builtin.file:
                path: "{{ jellyfin_media_dir }}"
                state: directory
                mode: "0755"
        - name: Stop Jellyfin
          when: jellyfin_enabled is false
          block:
            - name: Remove the Jellyfin directories
              ansible.builtin.file:
                path: "{{ jellyfin_media_dir }}"
                state: absent
        """,
    )
    _role(
        root,
        "pihole",
        description="Pi-hole, network-wide DNS ad blocking.",
        readme="# pihole\n\nPi-hole on the Raspberry Pis.\n",
        tags=["dns", "adblock"],
        defaults="""
        pihole_enabled: false
        pihole_dns_port: 53
        # The web interface's password (set it in the vault).
        pihole_web_password: ""
        pihole_upstream_dns: [1.1.1.1, 9.9.9.9]
        """,
        tasks="""
        - name: Create the Pi-hole directory
          ansible.builtin.file:
            path: "{{ data_root }}/pihole"
            state: directory
            mode: "0755"
        """,
    )
    for n in range(1, services + 1):
        _service(root, f"svc{n:03d}")
    return root


def _service(root: Path, name: str) -> None:
    """A generated service role, shaped like the big repositories' ones."""
    _role(
        root,
        name,
        description=f"The {name} service, in a container.",
        readme=f"# {name}\n\nRuns {name} in a container behind the reverse proxy.\n",
        tags=["generated", "service"],
        defaults=f"""
        {name}_enabled: false
        # Port of the web interface.
        {name}_port: 8{name[-3:]}
        {name}_image_name: example/{name}
        {name}_image_version: latest
        {name}_data_dir: "{{{{ data_root }}}}/{name}"
        {name}_user_id: "1000"
        {name}_memory: 512m
        {name}_hostname: {name}.lan
        {name}_api_key: changeme
        {name}_extra_env: {{}}
        """,
        tasks=f"""
        - name: Start {name}
          when: {name}_enabled is true
          block:
            - name: Create the {name} directory
              ansible.builtin.file:
                path: "{{{{ {name}_data_dir }}}}"
                state: directory
                mode: "0755"
            - name: Run the {name} container
              community.docker.docker_container:
                name: {name}
                image: "{{{{ {name}_image_name }}}}:{{{{ {name}_image_version }}}}"
                ports:
                  - "{{{{ {name}_port }}}}:80"
                env:
                  API_KEY: "{{{{ {name}_api_key }}}}"
                  PUID: "{{{{ {name}_user_id }}}}"
                labels:
                  traefik.http.routers.{name}.rule: "Host(`{{{{ {name}_hostname }}}}`)"
                memory: "{{{{ {name}_memory }}}}"
                restart_policy: unless-stopped
        - name: Stop {name}
          when: {name}_enabled is false
          block:
            - name: Remove the {name} container
              community.docker.docker_container:
                name: {name}
                state: absent
        """,
    )
