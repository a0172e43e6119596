"""The two business lines. Every request, row and event belongs to exactly one of them."""

from __future__ import annotations

from enum import StrEnum


class BusinessLine(StrEnum):
    MALL = "mall"
    PINGOU = "pingou"

    @classmethod
    def parse(cls, value: str) -> BusinessLine:
        """The line named by `value`; ValueError names the accepted values otherwise."""
        try:
            return cls(value)
        except ValueError:
            accepted = ", ".join(line.value for line in cls)
            raise ValueError(f"unknown business line {value!r} (expected one of: {accepted})") from None
