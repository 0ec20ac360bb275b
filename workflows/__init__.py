"""Temporal workflows: the thin, durable driver of the pure case engine."""
