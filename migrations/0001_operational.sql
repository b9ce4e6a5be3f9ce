-- 0001_operational: the marketplace's operational tables (what the web application writes).
-- grain: marketplace.users one row per user_id; marketplace.auctions one row per auction_id (its
--   current state: open, or closed with its result).
-- inputs: written by the application (here: `python -m app seed-db` from the generator).
-- used by: the incremental extract (`python -m app extract`), which reads rows whose updated_at is past
--   the watermark kept in the lake. updated_at is set to now() by a trigger on every UPDATE that does not
--   set it itself, and indexed for that read.
CREATE SCHEMA IF NOT EXISTS marketplace;

CREATE TABLE marketplace.users (
    user_id     text PRIMARY KEY,
    name        text NOT NULL,
    email       text NOT NULL,
    country     char(2) NOT NULL,
    city        text NOT NULL,
    signup_time timestamptz NOT NULL,
    is_seller   boolean NOT NULL,
    rating      integer NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE marketplace.auctions (
    auction_id    text PRIMARY KEY,
    seller_id     text NOT NULL REFERENCES marketplace.users (user_id),
    title         text NOT NULL,
    category      text NOT NULL,
    start_price   numeric(18, 2) NOT NULL CHECK (start_price > 0),
    reserve_price numeric(18, 2),
    currency      char(3) NOT NULL,
    start_time    timestamptz NOT NULL,
    end_time      timestamptz NOT NULL,
    status        text NOT NULL CHECK (status IN ('open', 'closed')),
    final_price   numeric(18, 2),
    winner_id     text REFERENCES marketplace.users (user_id),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX users_updated_at ON marketplace.users (updated_at);
CREATE INDEX auctions_updated_at ON marketplace.auctions (updated_at);
CREATE INDEX auctions_seller_id ON marketplace.auctions (seller_id);

CREATE FUNCTION marketplace.touch_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.updated_at IS NOT DISTINCT FROM OLD.updated_at THEN
        NEW.updated_at := now();
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER users_touch BEFORE UPDATE ON marketplace.users
    FOR EACH ROW EXECUTE FUNCTION marketplace.touch_updated_at();
CREATE TRIGGER auctions_touch BEFORE UPDATE ON marketplace.auctions
    FOR EACH ROW EXECUTE FUNCTION marketplace.touch_updated_at();
