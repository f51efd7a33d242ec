"""Generated playbooks: a service the catalog lacks, turned into a checked playbook and role.

- ``spec``: ``ServiceSpec`` and ``service_spec`` (name, pinned image, ports, volumes, env
  with its secrets found, entry metadata, default target);
- ``known``: the built-in table of well-known homelab services (``known_services.yml``);
- ``scaffold``: an entry's files rendered from ``templates/`` and its ``CatalogEntry``;
- ``checks``: ``ansible-playbook --syntax-check`` and ansible-lint, side by side;
- ``catalog_file``: an entry appended to ``catalog.yml`` as text, comments kept;
- ``install``: a checked entry into a catalog directory, all or nothing;
- ``new_entry``: ``chiffon playbooks new`` (generate in a temporary directory, check,
  install);
- ``staging``: the run path (stage for approval, install on approval, discard at the end);
- ``errors``: one class per condition.

Nothing here imports Ansible: the checks run it as subprocesses.
"""
