"""Groupbuy's copy of segmentation's registry of pingou accounts, filled from UserRegistered events."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from services.groupbuy.adapters.repository import Executor

_KNOWS = "SELECT EXISTS (SELECT 1 FROM registered_accounts WHERE account_id = $1)"
_RECORD = """
INSERT INTO registered_accounts (account_id, registered_at)
SELECT * FROM unnest($1::text[], $2::timestamptz[]) ON CONFLICT (account_id) DO NOTHING
"""


class RegisteredAccounts:
    def __init__(self, db: Executor):
        self._db = db

    async def knows(self, account_id: str) -> bool:
        return bool(await self._db.fetchval(_KNOWS, account_id))

    async def record(self, accounts: Sequence[tuple[str, datetime]]) -> None:
        """Idempotent: an account announced twice is recorded once."""
        await self._db.execute(_RECORD, [account for account, _ in accounts], [at for _, at in accounts])
