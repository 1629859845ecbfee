-- contacts.phone holds E.164 numbers: '+', a first digit 1–9, 7 to 15
-- digits in all. The regular expression that said so cost about 1.5 µs a
-- row, a tenth of a million-row import's merge; this check says the same
-- with string functions at about a third of that (docs/BENCHMARKS.md,
-- "Import"): eight to sixteen bytes, nothing but ASCII digits after a
-- leading '+' (rtrim strips trailing digits, so only '+' may remain), and a
-- first digit that is not 0. Every row the old check accepted passes; the
-- constraint keeps its name.
ALTER TABLE contacts
    DROP CONSTRAINT contacts_phone_check,
    ADD CONSTRAINT contacts_phone_check CHECK (
        octet_length(phone) BETWEEN 8 AND 16
        AND rtrim(phone, '0123456789') = '+'
        AND substr(phone, 2, 1) <> '0'
    );
