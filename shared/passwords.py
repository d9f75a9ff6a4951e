"""Password hashing with argon2id at OWASP's recommended parameters.

OWASP Password Storage Cheat Sheet: argon2id with at least 19 MiB of memory, an
iteration count of 2 and a parallelism of 1. Hashes made with older parameters
are upgraded at the next successful sign-in.
"""

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from flask_babel import gettext

MIN_PASSWORD_LENGTH = 10

_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1, type=Type.ID)

#: Checked against when the account does not exist, so timing does not reveal it.
_DUMMY_HASH = _hasher.hash("passline: no such account")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when `password` matches; always does the work of one verification."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and bool(password_hash)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


def password_problem(password: str) -> str | None:
    """Why a new password is not acceptable, or None."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return gettext("Use at least %(num)d characters.", num=MIN_PASSWORD_LENGTH)
    if len(password) > 256:
        return gettext("Use at most %(num)d characters.", num=256)
    if password.strip() != password or not password.strip():
        return gettext("The password may not start or end with spaces.")
    return None
