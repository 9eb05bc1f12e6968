"""Auctions, registrations and deposits, bids, open/close scheduling."""
