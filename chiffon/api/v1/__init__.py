"""``/api/v1``: the versioned JSON API. Each module is one resource's routes."""

from __future__ import annotations

from fastapi import APIRouter

from chiffon.api.problems import RESPONSES
from chiffon.api.v1 import identity

router = APIRouter(responses=RESPONSES)
router.include_router(identity.router)
