"""A seeded repository for the precision of ``chiffon playbooks check``: the shapes that
made its findings wrong on real homelab repositories (block-level ``when:``, images made of
two variables, templated ``src`` loops, role ``meta`` dependencies, ``is defined`` and
``default()`` guards, placeholder secrets, shared role files, a missing collection), each
once as a true case and once as a false one, and the findings it must give.

``uv run python -m tests.repos.precision`` prints the table (per rule: findings, true,
false, precision, recall). The catalog is the one ``chiffon catalog import`` drafts.
"""

from __future__ import annotations

import json
import sys
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from chiffon.playbooks.findings import Finding

# (rule, file, what the finding's key holds): every finding the rules must give; any other
# finding of a rule in RULES is a false one, and so is a second one of the same thing.
TRUE = (
    ("command-without-guard", "roles/common/tasks/main.yml", "apt-get update"),
    ("image-unpinned", "roles/web/defaults/main.yml", "nginx"),
    ("image-unpinned", "roles/web/templates/compose.yml.j2", "redis"),
    ("image-unpinned", "roles/proxy/defaults/main.yml", "traefik"),
    ("placeholder-secret", "roles/web/defaults/main.yml", "web_admin_password"),
    ("placeholder-secret", "roles/web/templates/web.env.j2", "API_TOKEN"),
    ("plaintext-secret", "roles/db/defaults/main.yml", "db_root_password"),
    ("restart-without-handler", "roles/db/tasks/main.yml", "Restart PostgreSQL"),
    ("hardcoded-hosts", "site.yml", "pi1"),
    ("collection-missing", "requirements.yml", "community.docker"),
    ("catalog-metadata[undeclared-variable]", "roles/web/tasks/main.yml", "web_motd_text"),
    ("catalog-metadata[unused-variable]", "catalog.yml", "worker_threads"),
)
RULES = tuple(dict.fromkeys(rule for rule, _, _ in TRUE))


def _write(root: Path, relative: str, text: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"))


def write_seeded(root: Path) -> Path:
    """Write the seeded repository at ``root``; returns ``root``."""
    _write(root, "hosts.yml", """
        all:
          children:
            homelab:
              hosts:
                localhost:
                  ansible_connection: local
            pis:
              hosts:
                pi1:
                  ansible_host: 192.0.2.11
        """)  # fmt: skip
    _write(root, "group_vars/all.yml", """
        ---
        data_root: /srv
        web_enabled: true
        proxy_enabled: true
        """)  # fmt: skip
    _write(root, "requirements.yml", """
        ---
        collections:
          - name: community.docker
        """)  # fmt: skip
    _write(root, "site.yml", """
        ---
        # Every service of the seeded homelab.
        - name: Services
          hosts: homelab
          roles:
            - role: web
              tags: [web]
              when: web_enabled | bool
            - role: db
              tags: [db]
            - role: proxy
              tags: [proxy]
              when: proxy_enabled
            - role: worker
              tags: [worker]

        - name: The first Pi
          hosts: pi1
          roles:
            - role: pihole
              tags: [pihole]
        """)  # fmt: skip
    _role(root, "common", defaults="common_packages: [curl]\n", tasks="""
        - name: Refresh the package index
          ansible.builtin.command: apt-get update

        - name: Install the base packages
          ansible.builtin.package:
            name: "{{ common_packages }}"
        """)  # fmt: skip
    _role(root, "web", deps=["common"], defaults="""
        web_enabled: false
        web_port: 8080
        web_image_name: nginx
        web_image_version: latest
        web_admin_password: changeme
        web_db_password: "{{ vault_web_db_password | default('') }}"
        """, tasks="""
        - name: Deploy the web server
          when: web_enabled | bool
          block:
            - name: Write the compose file and environment
              ansible.builtin.template:
                src: "{{ item }}.j2"
                dest: "{{ data_root }}/web/{{ item }}"
                mode: "0640"
              loop:
                - compose.yml
                - web.env

            - name: Run the web container
              community.docker.docker_container:
                name: web
                image: "{{ web_image_name }}:{{ web_image_version }}"
                ports: ["{{ web_port }}:80"]

        - name: Say hello
          ansible.builtin.debug:
            msg: "{{ web_banner | default('hello') }}"

        - name: Install the TLS certificate
          ansible.builtin.copy:
            content: "{{ web_tls_cert }}"
            dest: "{{ data_root }}/web/tls.pem"
            mode: "0600"
          when: web_tls_cert is defined

        - name: Write the message of the day
          ansible.builtin.copy:
            content: "{{ web_motd_text }}"
            dest: "{{ data_root }}/web/motd"
            mode: "0644"
        """, templates={
        "compose.yml.j2": """
            services:
              web:
                image: "{{ web_image_name }}:{{ web_image_version }}"
                ports: ["{{ web_port }}:80"]
              cache:
                image: redis:latest
            """,
        "web.env.j2": """
            API_TOKEN=changeme
            ADMIN_PASSWORD={{ web_admin_password }}
            DB_PASSWORD={{ web_db_password }}
            """,
    })  # fmt: skip
    _role(root, "db", deps=["common"], defaults="""
        db_port: 5432
        db_image: "postgres:16.4"
        db_root_password: "S3cr3t-Pa55w0rd-7f3a"
        db_backup_enabled: true
        """, tasks="""
        - name: Run PostgreSQL
          community.docker.docker_container:
            name: db
            image: "{{ db_image }}"
            env:
              POSTGRES_PASSWORD: "{{ db_root_password }}"
          no_log: true

        - name: Check PostgreSQL answers
          ansible.builtin.command: psql -p {{ db_port }} -c 'select 1'
          changed_when: false

        - name: Dump the databases once
          ansible.builtin.shell: pg_dumpall > {{ data_root }}/db/dump.sql
          args:
            creates: "{{ data_root }}/db/dump.sql"
          when: db_backup_enabled

        - name: Restart PostgreSQL
          ansible.builtin.command: systemctl restart postgresql
        """)  # fmt: skip
    _role(root, "proxy", deps=["common"], defaults="""
        proxy_enabled: false
        proxy_image: traefik
        """, tasks="""
        - name: Deploy the proxy
          when: proxy_enabled
          vars:
            proxy_conf_dir: "{{ data_root }}/proxy"
          block:
            - name: Create the proxy's configuration directory
              ansible.builtin.file:
                path: "{{ proxy_conf_dir }}"
                state: directory
                mode: "0755"
              notify: Restart the proxy

            - name: Run the proxy
              community.docker.docker_container:
                name: proxy
                image: "{{ proxy_image }}"
        """, handlers="""
        - name: Restart the proxy
          community.docker.docker_container:
            name: proxy
            restart: true
        """)  # fmt: skip
    _role(root, "worker", defaults="""
        worker_mode: fast
        worker_threads: 4
        """, tasks="""
        - name: Tune the worker
          when: worker_mode == 'fast'
          block:
            - name: Show the mode
              ansible.builtin.command: echo fast
              changed_when: false
        """)  # fmt: skip
    _role(root, "pihole", defaults="""
        pihole_web_password: ""
        """, tasks="""
        - name: Write the admin password
          ansible.builtin.copy:
            content: "{{ pihole_web_password }}"
            dest: "{{ data_root }}/pihole/password"
            mode: "0600"
          no_log: true
        """)  # fmt: skip
    return root


def _role(
    root: Path,
    name: str,
    *,
    defaults: str,
    tasks: str,
    deps: Sequence[str] = (),
    handlers: str | None = None,
    templates: dict[str, str] | None = None,
) -> None:
    base = f"roles/{name}"
    _write(root, f"{base}/defaults/main.yml", "---\n" + textwrap.dedent(defaults).lstrip("\n"))
    _write(root, f"{base}/tasks/main.yml", "---\n" + textwrap.dedent(tasks).lstrip("\n"))
    if handlers:
        _write(root, f"{base}/handlers/main.yml", "---\n" + textwrap.dedent(handlers).lstrip())
    listed = "".join(f"\n  - role: {d}" for d in deps)
    (root / base / "meta").mkdir(parents=True, exist_ok=True)
    (root / base / "meta" / "main.yml").write_text(
        f'---\ngalaxy_info:\n  description: "The {name} role."\ndependencies:{listed or " []"}\n'
    )
    _write(root, f"{base}/README.md", f"# {name}\n\nThe {name} role of the seeded homelab.\n")
    for relative, text in (templates or {}).items():
        _write(root, f"{base}/templates/{relative}", text)


@dataclass(frozen=True, slots=True)
class Row:
    """One rule's figures: findings given, true ones, false ones, true cases missed."""

    rule: str
    found: int
    true: int
    false: int
    missed: int

    @property
    def precision(self) -> float:
        return self.true / self.found if self.found else 1.0

    @property
    def recall(self) -> float:
        expected = self.true + self.missed
        return self.true / expected if expected else 1.0


def score(findings: Sequence[Finding]) -> list[Row]:
    """The precision table of ``findings`` (Chiffon's, of the seeded repository)."""
    rows = []
    for rule in RULES:
        expected = [(path, key) for r, path, key in TRUE if r == rule]
        mine = [f for f in findings if f.rule == rule]
        matched: set[tuple[str, str]] = set()
        true = false = 0
        for finding in mine:
            case = next((c for c in expected if c[0] == finding.path and c[1] in finding.key), None)
            if case is None or case in matched:
                false += 1  # wrong, or the same thing said again
            else:
                matched.add(case)
                true += 1
        rows.append(Row(rule, len(mine), true, false, len(expected) - len(matched)))
    return rows


def seeded_findings(root: Path) -> list[Finding]:
    """Chiffon's findings on the seeded repository at ``root``, with the catalog
    ``chiffon catalog import`` drafts written there."""
    from chiffon.catalog import load_catalog
    from chiffon.catalog.importing import import_repository
    from chiffon.playbooks.rules import run_rules

    text, _, _ = import_repository(root)
    (root / "catalog.yml").write_text(text)
    catalog = load_catalog(root)
    return run_rules(catalog, list(catalog.entries))


def table(rows: Sequence[Row]) -> str:
    lines = [
        "| rule | findings | true | false | precision | true cases missed |",
        "|---|---|---|---|---|---|",
    ]
    lines.extend(
        f"| {r.rule} | {r.found} | {r.true} | {r.false} | {r.precision:.0%} | {r.missed} |"
        for r in rows
    )
    return "\n".join(lines)


def main() -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        findings = seeded_findings(write_seeded(Path(folder) / "seeded"))
    rows = score(findings)
    if "--json" in sys.argv:
        print(json.dumps([
            {"rule": r.rule, "found": r.found, "true": r.true, "false": r.false,
             "missed": r.missed, "precision": round(r.precision, 3)} for r in rows
        ]))  # fmt: skip
    else:
        print(table(rows))


if __name__ == "__main__":
    main()
