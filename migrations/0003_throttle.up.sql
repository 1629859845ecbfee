-- Coordination between herald processes that send through the same sender
-- numbers (internal/throttle): who is sending for a number right now, and how
-- far the number's rate has been cut after Cloud API error 130429.

-- One row per process (member) that wants to send for a sender number. A
-- number's rate is split evenly among its live rows: seen_at within the member
-- TTL. Each member upserts all its rows in one statement per heartbeat and
-- deletes them when it stops. The table holds processes × numbers rows, so
-- the primary key is the only index it needs.
CREATE TABLE throttle_members (
    sender_id   bigint NOT NULL REFERENCES sender_numbers (id) ON DELETE CASCADE,
    member_id   text NOT NULL,
    joined_at   timestamptz NOT NULL DEFAULT now(),
    seen_at     timestamptz NOT NULL DEFAULT now(),
    -- Set by the member's first heartbeat after its row was committed (NULL
    -- before). The member sends nothing for this number until every other
    -- live member has been seen after this instant, and so has counted it.
    admit_after timestamptz,
    PRIMARY KEY (sender_id, member_id)
);

-- The AIMD factor of a sender number, shared by every member: a 130429 means
-- the number is over its cap for everyone. factor is the value right after
-- the last decrease at slowed_at; members add the recovery since then
-- themselves, so nothing has to write while the factor climbs back.
CREATE TABLE throttle_senders (
    sender_id bigint PRIMARY KEY REFERENCES sender_numbers (id) ON DELETE CASCADE,
    factor    double precision NOT NULL CHECK (factor > 0 AND factor <= 1),
    slowed_at timestamptz NOT NULL
);
