"""The agents that carry out approved steps, and the registry that knows them.

``chiffon.agents.infra`` holds the agent actor (``InfraAgent``: kind infra, or desktop on a GPU
machine) that runs catalog playbooks; ``registry`` the orchestrator's view of the agents and
the routing of steps by capability and capacity; ``resources`` the psutil/NVML sampling;
``ledger`` the agent's record of its attempts; ``presence`` its announcements and heartbeats.

Agents are actors. They import nothing heavy at import time: Ansible is loaded by the call
that runs a playbook, NVML by the first sample.
"""
