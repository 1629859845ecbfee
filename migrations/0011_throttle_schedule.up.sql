-- A sender number's rate is held by one shared schedule instead of shares
-- (internal/throttle, doc.go). throttle_senders.next_slot is the first
-- instant no process holds yet: a process that wants n messages takes the n
-- slots from greatest(next_slot, now) on, spaced spacing_us apart, and moves
-- next_slot past them, in one statement. Slots are never handed out twice,
-- and a process that has nothing to send takes none, so whoever has work
-- gets the whole rate.
--
-- The member table of the share protocol (each live process held rate/n,
-- whether it had work or not) goes.
DROP TABLE throttle_members;

ALTER TABLE throttle_senders
    ALTER COLUMN factor SET DEFAULT 1,
    ALTER COLUMN slowed_at DROP NOT NULL,
    ADD COLUMN next_slot timestamptz,
    ADD COLUMN spacing_us double precision;

COMMENT ON COLUMN throttle_senders.next_slot IS
    'the first instant of the number''s schedule not yet taken by a process';
COMMENT ON COLUMN throttle_senders.spacing_us IS
    'microseconds between slots at the last lease: the rate after the AIMD factor and headroom';
