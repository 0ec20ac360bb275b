"""Audit of real cases: read a case's Temporal history, check it against its pinned policy, turn it
into a scenario, and replay past cases under a draft policy set."""
