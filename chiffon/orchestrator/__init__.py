"""The orchestrator: runs and their steps, from request to plan, approval and execution."""
