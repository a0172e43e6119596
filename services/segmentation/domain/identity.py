"""External identities (WeChat unionid, phone) are never stored: only a salted HMAC of their normal form,
which is the same for the same person on either line and useless without the salt."""

from __future__ import annotations

import hashlib
import hmac
import re

from libs.core import FieldViolation, InvalidArgument
from services.segmentation.domain.model import IdentityKind

_UNIONID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_MAINLAND_MOBILE = re.compile(r"^1[3-9][0-9]{9}$")


def normalize(kind: IdentityKind, value: str, *, field: str = "identity.value") -> str:
    """The canonical text of an identity; InvalidArgument when it cannot be one."""
    if kind is IdentityKind.PHONE:
        digits = re.sub(r"[\s()-]", "", value)
        for prefix in ("+86", "0086"):
            if digits.startswith(prefix):
                digits = digits[len(prefix) :]
        if not _MAINLAND_MOBILE.match(digits):
            raise _invalid(field, "is not a mainland China mobile number")
        return digits
    if not _UNIONID.match(value):
        raise _invalid(field, "is not a WeChat unionid (1 to 64 letters, digits, '_' or '-')")
    return value


def identity_hash(kind: IdentityKind, value: str, *, salt: bytes) -> bytes:
    return hmac.new(salt, f"{kind.value}:{normalize(kind, value)}".encode(), hashlib.sha256).digest()


def _invalid(field: str, description: str) -> InvalidArgument:
    return InvalidArgument(
        f"{field} {description}", reason="INVALID_IDENTITY", violations=[FieldViolation(field, description)]
    )
