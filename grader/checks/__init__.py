"""The hidden checks: one file per task, one test per thing a TA awards points for."""
