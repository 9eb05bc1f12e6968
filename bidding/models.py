"""bidding models (built out by its issue)."""
