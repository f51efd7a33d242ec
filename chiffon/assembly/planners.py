"""Planners and routers built from ``Settings``: what ``chiffon plan/run --planner`` uses.

The settings that configure the model path (all ``CHIFFON_``-prefixed):

- ``LLM_LOCAL_MODEL`` (``ollama_chat/llama3.1``) and ``LLM_LOCAL_API_BASE``
  (``http://127.0.0.1:11434``): the local model, free;
- ``LLM_EXTERNAL_MODEL`` (``openai/gpt-4o-mini``), ``LLM_EXTERNAL_API_BASE`` (unset for the
  provider's own) and ``LLM_EXTERNAL_API_KEY``: the external model, priced by LiteLLM's cost
  map;
- ``LLM_LOCAL_QUOTA_URL``: answers ``{"remaining": 0..1}``, the local model's quota;
- ``LLM_TIMEOUT_S``: per attempt; ``BUDGET_USD``: the default per-run budget.

Nothing here imports LiteLLM: that happens on the first model call.
"""

from __future__ import annotations

from chiffon.catalog import Catalog
from chiffon.database import Database
from chiffon.errors import ConfigError
from chiffon.llm.client import LLMClient, ModelEndpoint
from chiffon.llm.costs import CostRecorder
from chiffon.llm.routing import ModelRouter
from chiffon.planning.planner import Planner
from chiffon.settings import Settings

PLANNER_CHOICES = ("auto", "catalog", "llm")


def model_configured(settings: Settings) -> bool:
    """Whether a local or an external model is configured."""
    return settings.llm_local_model is not None or settings.llm_external_model is not None


def router_for(settings: Settings, database: Database) -> ModelRouter:
    """The router over the configured models, recording calls through ``database``. With no
    model configured its ``configured`` is false (and its calls raise ``NoModelConfigured``)."""
    local = None
    if settings.llm_local_model is not None:
        local = ModelEndpoint(
            settings.llm_local_model, api_base=settings.llm_local_api_base, priced=False
        )
    external = None
    if settings.llm_external_model is not None:
        key = settings.llm_external_api_key
        external = ModelEndpoint(
            settings.llm_external_model,
            api_base=settings.llm_external_api_base,
            api_key=key.get_secret_value() if key is not None else None,
        )
    return ModelRouter(
        LLMClient(timeout_s=settings.llm_timeout_s),
        CostRecorder(database),
        local=local,
        external=external,
        quota_url=settings.llm_local_quota_url,
    )


def planner_for(
    settings: Settings,
    catalog: Catalog,
    database: Database,
    *,
    choice: str = "auto",
    high_value: bool = False,
) -> Planner:
    """The planner for ``--planner CHOICE``: ``catalog`` the offline catalog planner, ``llm``
    the LLM planner, ``auto`` the LLM planner when a model is configured, else the catalog
    planner.

    ``high_value`` does not change the choice: the ``PlanRequest`` carries it to the router,
    which then sends the calls to the external model. Raises ``ConfigError`` for an unknown
    choice, and for ``llm`` with no model configured.
    """
    del high_value  # carried by each PlanRequest, see above
    if choice not in PLANNER_CHOICES:
        raise ConfigError(
            f"the planner must be one of {', '.join(PLANNER_CHOICES)}, not {choice!r}"
        )
    if choice == "llm" and not model_configured(settings):
        raise ConfigError(
            "the LLM planner needs a model: set CHIFFON_LLM_LOCAL_MODEL "
            "or CHIFFON_LLM_EXTERNAL_MODEL"
        )
    if choice == "catalog" or not model_configured(settings):
        from chiffon.planning.catalog_planner import CatalogPlanner

        return CatalogPlanner(catalog)
    from chiffon.planning.llm_planner import LLMPlanner

    return LLMPlanner(catalog, router_for(settings, database))
