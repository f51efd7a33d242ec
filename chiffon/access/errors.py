"""What the identity layer refuses, one class per condition; each is a ``ChiffonError`` whose
``code`` the HTTP API puts in its problem documents."""

from __future__ import annotations

from chiffon.errors import ChiffonError


class AccessError(ChiffonError):
    """Base of the identity layer's errors."""

    code = "access_error"


class InvalidUserName(AccessError):
    """Raised by ``Access.add_user`` for a name that is empty, too long or has odd characters."""

    code = "invalid_user_name"

    def __init__(self, name: str) -> None:
        super().__init__(
            f"{name!r} is not a usable user name: use 1 to 64 letters, digits, '.', '_', '-' "
            "or '@', starting with a letter or digit"
        )


class WeakPassword(AccessError):
    """Raised by ``Access.add_user`` and ``Access.set_password`` for a password shorter than
    ``MIN_PASSWORD_LENGTH``."""

    code = "weak_password"

    def __init__(self, minimum: int) -> None:
        super().__init__(f"the password is too short: use at least {minimum} characters")


class UserExists(AccessError):
    """Raised by ``Access.add_user`` when the name is taken."""

    code = "user_exists"

    def __init__(self, name: str) -> None:
        super().__init__(f"there is already a user named {name!r}")


class UnknownUser(AccessError):
    """Raised by operations naming a user that does not exist (never by ``check_password``,
    which does not say whether the name or the password was wrong)."""

    code = "unknown_user"

    def __init__(self, name: str) -> None:
        super().__init__(f"there is no user named {name!r}: add one with `chiffon users add`")


class ScopeTooWide(AccessError):
    """Raised by ``Access.create_token`` when the token would grant more than its user has."""

    code = "scope_too_wide"

    def __init__(self, user: str, user_scope: str, wanted: str) -> None:
        super().__init__(
            f"user {user!r} has scope {user_scope!r}, so a token of theirs cannot have {wanted!r}"
        )


class UnknownToken(AccessError):
    """Raised by ``Access.revoke_token`` for a token id that does not exist."""

    code = "unknown_token"

    def __init__(self, token_id: str) -> None:
        super().__init__(f"there is no token with id {token_id!r}: see `chiffon tokens list`")


class Unauthenticated(AccessError):
    """Raised by ``Access.authenticate`` for a secret that is malformed or matches no token,
    and by the HTTP layer when a request carries no credential."""

    code = "unauthenticated"

    def __init__(self, reason: str = "the request carries no valid token or session") -> None:
        super().__init__(reason)


class TokenExpired(Unauthenticated):
    """Raised by ``Access.authenticate`` for a token past its ``expires_at``."""

    code = "token_expired"

    def __init__(self, token_id: str) -> None:
        super().__init__(f"token {token_id} has expired: create a new one")


class TokenRevoked(Unauthenticated):
    """Raised by ``Access.authenticate`` for a revoked token."""

    code = "token_revoked"

    def __init__(self, token_id: str) -> None:
        super().__init__(f"token {token_id} was revoked")


class InsufficientScope(AccessError):
    """Raised by the HTTP layer when the principal's scope does not include the one needed."""

    code = "insufficient_scope"

    def __init__(self, user: str, needed: str) -> None:
        super().__init__(f"{user} may not do this: it needs the {needed!r} scope")
