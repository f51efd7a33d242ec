"""The agents that carry out approved steps, and the registry that knows them.

``core`` holds the agent actor (``Agent``: ledger, attempts, capacity holds, status answers,
presence) around one executor (the port: ``executor``): ``infra`` runs catalog playbooks with
Ansible (kinds infra and desktop), ``probes`` runs declared read-only probes (kind
shell-check); ``kinds`` lists the kinds once. ``registry`` is the orchestrator's view of the
agents and the routing of steps by declared capability and measured capacity; ``resources``
the psutil/NVML sampling; ``ledger`` the agent's record of its attempts; ``presence`` its
announcements and heartbeats.

Agents are actors. They import nothing heavy at import time: Ansible is loaded by the call
that runs a playbook, NVML by the first sample.
"""
