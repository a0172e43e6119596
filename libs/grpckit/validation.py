"""Request validation at the edge. A validator is a plain function of the request that collects every
problem and raises one InvalidArgument listing them (so a client fixes all fields in one round)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Container
from typing import Any

from libs.core import FieldViolation, InvalidArgument, user_line

Validator = Callable[[Any], None]


def nothing_to_validate(request: Any) -> None:
    """The validator of a method whose request has no field that can be wrong."""


class Violations:
    def __init__(self) -> None:
        self._found: list[FieldViolation] = []

    def add(self, field: str, description: str) -> None:
        self._found.append(FieldViolation(field, description))

    def text(self, field: str, value: str, *, min_length: int = 1, max_length: int) -> None:
        if len(value) < min_length:
            self.add(field, "is required" if min_length == 1 else f"needs at least {min_length} characters")
        elif len(value) > max_length:
            self.add(field, f"is longer than {max_length} characters")

    def identifier(self, field: str, value: str) -> None:
        """A UUID in its canonical text form."""
        try:
            canonical = str(uuid.UUID(value)) == value.lower()
        except ValueError:
            canonical = False
        if not canonical:
            self.add(field, "is not a valid id (UUID)" if value else "is required")

    def user_id(self, field: str, value: str) -> None:
        """A user id of either line (`pu_<n>`, `mu_<n>`); whose line it is gets checked by authorization."""
        try:
            user_line(value, field=field)
        except InvalidArgument as error:
            self._found.extend(error.violations)

    def number(self, field: str, value: float, *, minimum: float, maximum: float) -> None:
        if not minimum <= value <= maximum:
            self.add(field, f"must be between {minimum} and {maximum}")

    def enum(self, field: str, value: int, *, allowed: Container[int]) -> None:
        if value not in allowed:
            self.add(field, "is unspecified" if value == 0 else f"has an unknown value {value}")

    def raise_if_any(self) -> None:
        if self._found:
            summary = "; ".join(f"{v.field} {v.description}" for v in self._found)
            raise InvalidArgument(f"invalid request: {summary}", reason="INVALID_ARGUMENT", violations=self._found)
