"""The agents that carry out approved steps: ``chiffon.agents.infra`` runs catalog playbooks.

Agents are actors. They import nothing heavy at import time: Ansible is loaded by the call
that runs a playbook.
"""
