"""Cron jobs (docs/cron.md): wall-clock slots across DST (slots.py), the pure planner that
decides what a job does at a given moment (planner.py), their records (records.py), and the
driver that applies the planner's decisions to the scheduler (driver.py)."""
