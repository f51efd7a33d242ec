"""``/api/v1``: the versioned JSON API. Each module is one resource's routes."""

from __future__ import annotations

from fastapi import APIRouter

from chiffon.api.problems import RESPONSES
from chiffon.api.v1 import audit, decisions, fleet, identity, runs

router = APIRouter(responses=RESPONSES)
router.include_router(runs.router)
router.include_router(decisions.router)
router.include_router(audit.router)
router.include_router(fleet.router)
router.include_router(identity.router)
