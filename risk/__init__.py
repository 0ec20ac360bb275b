"""The merchant risk watch: rules in YAML (rules.py), figures from the ledger (figures.py), the
merchants that cross a rule (watch.py). Reference: docs/risk.md."""
