"""Borealis executor: the runner, its coordinators, the config language and the CLI."""
