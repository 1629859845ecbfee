-- The portfolio's messaging limit: unique users a business may reach with
-- templates outside customer service windows in a moving 24 hours (Meta's
-- ladder: 250, 2,000, 10,000, 100,000, unlimited). 0 means unlimited. Kept
-- per number because herald learns it per number; numbers of one WABA
-- share it.
ALTER TABLE sender_numbers ADD COLUMN messaging_limit integer NOT NULL DEFAULT 0 CHECK (messaging_limit >= 0);
