"""listings models (built out by its issue)."""
