"""Generation for a planner that does not generate by itself: the LLM planner.

``GeneratingPlanner`` stages what a run's request names and the catalog lacks, the way the
catalog planner does (``CatalogPlanner.to_generate`` and ``generate``: a well-known service,
or one whose image and port the request gives; generated, syntax-checked, linted and staged
under ``generated/<run id>/``), and only then asks the planner it wraps, which sees the staged
entries as catalog entries. Whether the plan uses them is that planner's answer; a staged
entry it leaves out is discarded at the run's end like any other.
"""

from __future__ import annotations

from chiffon.planning.catalog_planner import CatalogPlanner
from chiffon.planning.planner import NeedsClarification, Planner, PlanOutcome, PlanRequest


class GeneratingPlanner:
    """``planner`` with the new services of a request staged first by ``generator`` (a
    ``CatalogPlanner`` given a ``generated_dir``). Its ``name`` is ``planner``'s.

    Nothing is generated for a request without a run id (``chiffon plan``). A service that
    cannot be generated (its checks fail) is the catalog planner's question, and the model
    is not asked. A request whose unknown words the catalog planner cannot make a service
    of (no image or port, say) goes to ``planner`` as it is: a model may know better.
    """

    def __init__(self, planner: Planner, generator: CatalogPlanner) -> None:
        self.planner = planner
        self.generator = generator
        self.name = planner.name

    async def plan(self, request: PlanRequest) -> PlanOutcome:
        """Stage what ``request`` wants generated, then ``planner.plan(request)``; raises
        what that raises."""
        wanted = self.generator.to_generate(request)
        if wanted and not isinstance(wanted, NeedsClarification):
            failed = await self.generator.generate(request, wanted)
            if failed is not None:
                return failed
        return await self.planner.plan(request)
