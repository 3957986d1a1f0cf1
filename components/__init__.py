"""Filled in by a later issue; importable so the layout holds."""
