"""The case ledger: every case's facts (opening, transitions, SLA outcomes, escalations, referrals,
satisfaction, refunds, decisions, close) as rows of a SQL database, for reports and BI tools.

`schema` declares the tables, `facts` turns a case's audit trail into rows (pure), `store` writes them
idempotently and runs the migrations. Reference: docs/ledger.md.
"""
