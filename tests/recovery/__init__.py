"""Crash recovery: ``chiffon run`` processes killed with SIGKILL, then resumed or reconciled."""
