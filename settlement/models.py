"""settlement models (built out by its issue)."""
