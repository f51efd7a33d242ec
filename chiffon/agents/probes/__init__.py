"""The ``shell-check`` executor: a catalog entry's declared read-only probes (disk space,
systemd units, containers, listening ports, paths), run on the agent's own machine in a
worker process, each reported as a fact: an output line, and a step that fails when a probe's
expectation does not hold — so a plan can check before it changes anything, or wait after.

Nothing is imported here: the worker (``python -m chiffon.agents.probes.worker``) starts with
the standard library and psutil only. ``executor`` holds ``ProbeExecutor`` and
``probe_agent``; ``declared`` the probe file format.
"""
