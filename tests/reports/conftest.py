"""Report tests run on both databases, with the ledger tests' fixtures (an SQLite file, a throwaway PostgreSQL)."""

from __future__ import annotations

from tests.ledger.conftest import database_url, ledger, postgres_url

__all__ = ["database_url", "ledger", "postgres_url"]
