"""The root of Chiffon's exceptions, and the start-up error every layer may raise.

Each layer keeps its own ``errors.py`` (``chiffon.actors.errors``, ``chiffon.journal.errors``)
with one class per condition; this leaf module holds only what is shared by all of them.
"""

from __future__ import annotations


class ChiffonError(Exception):
    """Base class of every exception Chiffon raises on purpose.

    ``code`` is a stable, machine-readable name; ``retryable`` says whether the same call may
    succeed later without a change (a database that went away) or never will (a bad URL).
    """

    code: str = "chiffon_error"
    retryable: bool = False


class ConfigError(ChiffonError):
    """Raised at start-up when configuration or the environment it names is unusable.

    The message is one readable sentence that names the problem and never contains a password;
    the CLI prints it as it is and exits with status 2.
    """

    code = "config_error"
