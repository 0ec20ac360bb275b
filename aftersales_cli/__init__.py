"""The `aftersales` command: one front for operators, backend developers and compliance staff."""
