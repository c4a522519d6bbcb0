"""Borealis observer: the per-host web UI and JSON API (to be built; see docs/roadmap.md)."""
