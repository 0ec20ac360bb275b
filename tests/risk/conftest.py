"""The risk watch reads the ledger: its tests run on both databases, as the ledger's own do."""

from __future__ import annotations

from tests.ledger.conftest import database_url, ledger
from tests.ledger.postgres import postgres_url

__all__ = ["database_url", "ledger", "postgres_url"]
