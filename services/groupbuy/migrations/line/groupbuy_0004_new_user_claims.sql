-- New-user-only groups (新人团) give one discount per person: a seat in one claims the buyer's account
-- and every account linked to it (segmentation's links, either line), in the statement that holds the
-- seat. A claim already taken by any of them is a unique violation that undoes the whole statement, so
-- however many joins one person races, at most one seat is held. The claim goes back when its seat is
-- released or its group fails (the discount was never had); a completed group keeps it for good.
-- depends: groupbuy_0003_allotment_lock_order

CREATE TABLE new_user_claims (
    account_id text        NOT NULL,   -- one of the person's accounts (pu_ / mu_: ids carry their line)
    seat_id    uuid        NOT NULL REFERENCES seats (seat_id),
    group_id   uuid        NOT NULL,
    claimed_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT new_user_claims_one_per_person PRIMARY KEY (account_id)
);
CREATE INDEX new_user_claims_by_seat ON new_user_claims (seat_id);
CREATE INDEX new_user_claims_by_group ON new_user_claims (group_id);

CREATE FUNCTION give_back_new_user_claims() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'seats' THEN
        DELETE FROM new_user_claims WHERE seat_id = NEW.seat_id;
    ELSE
        DELETE FROM new_user_claims WHERE group_id = NEW.group_id;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER seat_released_gives_back_its_claim AFTER UPDATE OF state ON seats
    FOR EACH ROW WHEN (NEW.state = 'released' AND OLD.state <> 'released')
    EXECUTE FUNCTION give_back_new_user_claims();
CREATE TRIGGER group_failed_gives_back_its_claims AFTER UPDATE OF state ON groups
    FOR EACH ROW WHEN (NEW.state = 'failed' AND OLD.state <> 'failed' AND NEW.new_user_only)
    EXECUTE FUNCTION give_back_new_user_claims();
