"""The membership domain: plans, memberships and their periods, coupon months. No infrastructure here."""
