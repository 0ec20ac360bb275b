"""The pure core of aftersales: the policy language, its loader and validator, calendars and the
case engine. Nothing in this package performs I/O at case time or reads the clock, so the same
code runs inside Temporal workflows, the simulator and policy tests."""
