"""The catalog's error."""

from __future__ import annotations

from chiffon.errors import ChiffonError


class CatalogError(ChiffonError):
    """Raised when a catalog directory cannot be loaded: a missing ``catalog.yml``, an entry
    whose playbook file is missing, a malformed inventory. The message names the file and
    the field."""

    code = "catalog_error"
