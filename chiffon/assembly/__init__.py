"""Composition: where ``Settings`` become running parts. Nothing below this package reads
``Settings``; everything here does.

- ``system``: ``System``, the composition root and the facade a library user holds, and
  ``store_for`` (the store the settings describe).
- ``domain``: the domain wired in an orchestrator process (catalog, planners, registry, the
  local agent, orchestrator, audit trail).
- ``planners``: the planners a run may ask for, built from the model settings.
- ``broker``: the bridge of an orchestrator or an agent process.
- ``agent``: one agent actor, configured from the settings (local or remote).
- ``agent_process``: ``run_agent``, the composition root of a ``chiffon agent`` process.

``import chiffon.assembly`` loads ``system`` only; the rest is imported when used, so
``chiffon --help`` stays fast.
"""

from chiffon.assembly.system import System, open_runs, store_for

__all__ = ["System", "open_runs", "store_for"]
