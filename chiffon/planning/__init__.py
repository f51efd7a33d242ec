"""Planning: the playbook catalog, the planners (catalog and LLM) and plan validation."""
