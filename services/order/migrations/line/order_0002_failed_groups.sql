-- Groups this service knows to have failed (from groupbuy's GroupFailed). A seat's order is placed from
-- groupbuy's SeatHeld; should one ever be read after its group's failure (a dead-lettered event replayed,
-- say), the order is cancelled or refunded at once rather than left to wait for a group that is over.
-- depends: order_0001_orders

CREATE TABLE failed_groups (
    group_id  text        PRIMARY KEY,
    failed_at timestamptz NOT NULL
);

-- Forgotten after a while (the housekeeping job), as the inbox forgets the events it has handled.
CREATE INDEX failed_groups_by_age ON failed_groups (failed_at);
