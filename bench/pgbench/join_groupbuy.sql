-- groupbuy's part of one JoinGroup, and the whole of its answer: the seat hold `_HOLD_SEAT`
-- (services/groupbuy/adapters/repository.py), one statement over the pool, so its own implicit
-- transaction: no BEGIN / COMMIT, as in the service. The group's seat count, the seat's unit of stock
-- from groupbuy's allotment (`take_allotment`, from a random start bucket, skipping held buckets, else
-- waiting), the seat naming its order and bucket, the per-user count and the SeatHeld outbox row
-- (~430-byte envelope); no new-user claim ($19 empty: the bench's groups are open to all). $17 (the
-- seat's order id) is the order id join_order.sql places.
WITH taken AS (
    UPDATE groupbuy_pingou.groups SET seats_taken = seats_taken + 1
    WHERE group_id = md5('group-' || :sku || '-' || :grp)::uuid AND state = 'open' AND seats_taken < size
        AND expires_at > now()
    RETURNING group_id, sku_id, leader_user_id, state, size, seats_taken, seats_paid, group_price_minor,
    leader_price_minor, per_user_limit, new_user_only, plus_only, strangers_can_join, auto_match, share_code,
    opened_at, expires_at, closed_at, flagged, failure_reason
), unit AS (
    SELECT t.bucket, t.remaining FROM taken, LATERAL groupbuy_pingou.take_allotment(taken.sku_id, :bucket) t), seat AS (
    INSERT INTO groupbuy_pingou.seats (seat_id, group_id, user_id, leader, request_key, invite_code,
        inviter_user_id, unit_price_minor, shipping_city, channel, held_at, pay_by, order_id, stock_bucket)
    SELECT md5('seat-' || :join)::uuid, group_id, 'u-' || :join, false, 'rk-' || :join,
        upper(substr(md5('invite-' || :join), 1, 16)), NULL, group_price_minor, 'Hangzhou', 1, now(),
        now() + interval '15 minutes', 'po_' || substr(md5('order-' || :join), 1, 26), unit.bucket
    FROM taken, unit
    RETURNING user_id, seat_id, group_id
), claimed AS (
    INSERT INTO groupbuy_pingou.new_user_claims (account_id, seat_id, group_id)
    SELECT account, seat.seat_id, seat.group_id FROM seat, unnest(ARRAY[]::text[]) AS account), counted AS (
    INSERT INTO groupbuy_pingou.user_sku_groups AS u (user_id, sku_id, active, max_active)
    SELECT seat.user_id, taken.sku_id, 1, taken.per_user_limit FROM seat, taken
    ON CONFLICT (user_id, sku_id)
    DO UPDATE SET active = u.active + 1, max_active = excluded.max_active), announced AS (
INSERT INTO groupbuy_pingou.outbox (event_id, topic, key, event_type, payload, headers)
SELECT e.* FROM unnest(ARRAY[md5('seat-held-' || :join)::uuid]::uuid[], ARRAY['pingou.groupbuy.v1']::text[],
    ARRAY[md5('group-' || :sku || '-' || :grp)::uuid::text]::text[], ARRAY['pingou.groupbuy.v1.SeatHeld']::text[],
    ARRAY[decode(repeat('a5', 430), 'hex')]::bytea[],
    ARRAY['{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}']::jsonb[]) AS e, seat
)
SELECT group_id, sku_id, leader_user_id, state, size, seats_taken, seats_paid, group_price_minor,
    leader_price_minor, per_user_limit, new_user_only, plus_only, strangers_can_join, auto_match, share_code,
    opened_at, expires_at, closed_at, flagged, failure_reason, (SELECT remaining FROM unit) AS stock_remaining
FROM taken;
