"""Models through LiteLLM: one client, local-first routing, cost records and budgets."""
