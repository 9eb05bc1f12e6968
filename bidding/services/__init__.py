"""Every write of bidding, one module per use case:

- ``auctions``: create (``auction_create`` with its ``AuctionTerms``) and open;
- ``registrations``: register (NDA) and confirm the deposit;
- ``bids``: ``bid_place``, the hot path (plain SQL under the auction's row lock);
- ``closing``: close (exactly once, with the award) and cancel, and the deposits they settle;
- ``schedule``: the timed open/close messages, enqueued after commit.

Each state transition locks the auction row first (``select_for_update``) and re-checks state
and time on the server clock after the lock; bids on one auction therefore serialise on that
row, and bids on different auctions never wait on each other. The rules themselves (minimum
bid, leader, extension, visibility) are pure functions in ``bidding.rules``.
"""
