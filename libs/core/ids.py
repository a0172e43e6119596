"""User ids carry their business line, so a service can refuse a cross-line request before it reads a row.

Pingou accounts are `pu_<number>`, mall accounts `mu_<number>`; numbers are issued per line, and the
prefix keeps the two id spaces from ever colliding.
"""

from __future__ import annotations

import re

from libs.core.errors import FieldViolation, InvalidArgument
from libs.core.lines import BusinessLine

USER_ID_PREFIX = {BusinessLine.PINGOU: "pu_", BusinessLine.MALL: "mu_"}
_USER_ID = re.compile(r"^(pu|mu)_([1-9][0-9]{0,17})$")
MAX_USER_ID_LENGTH = 21


# Catalog's ids (SKUs, products, merchants, categories, belts): lower-case slugs. Other services check
# ids they pass on to catalog with the same pattern, so a bad one is their caller's INVALID_ARGUMENT.
REFERENCE_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


def format_user_id(line: BusinessLine, number: int) -> str:
    return f"{USER_ID_PREFIX[line]}{number}"


def user_line(user_id: str, *, field: str = "user_id") -> BusinessLine:
    """The line a user id belongs to; InvalidArgument naming `field` when it is not a user id."""
    match = _USER_ID.match(user_id)
    if match is None:
        description = "is required" if not user_id else "is not a user id (pu_<number> or mu_<number>)"
        raise InvalidArgument(
            f"{field} {description}", reason="INVALID_USER_ID", violations=[FieldViolation(field, description)]
        )
    return BusinessLine.PINGOU if match.group(1) == "pu" else BusinessLine.MALL


def user_number(user_id: str) -> int:
    user_line(user_id)
    return int(user_id.split("_", 1)[1])
