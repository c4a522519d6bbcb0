"""Borealis scheduler: places job instances onto hosts (to be built; see docs/roadmap.md)."""
