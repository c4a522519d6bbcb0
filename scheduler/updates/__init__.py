"""Job updates: the pure planner (planner.py), its states (states.py), and the driver
that applies it to the scheduler (driver.py)."""
