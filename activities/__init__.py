"""Side effects of cases: every action runs here, as a Temporal activity, with an idempotency key."""
