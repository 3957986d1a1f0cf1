"""kubepipe workflow engine."""
