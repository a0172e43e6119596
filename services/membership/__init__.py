"""PLUS membership: plans, purchase and renewal idempotent by payment reference, a trial once per person,
expiry by a durable job, IsMember, and the monthly free-shipping coupon ledger. See README.md beside
this file."""
