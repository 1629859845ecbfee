-- What an import decided beyond the counts of 0001, so that an import can be
-- shown again exactly as it was reported: existing contacts the file matched
-- but did not change, rows skipped because they carried no consent (when
-- asked to), contacts the file itself opted out, and how the file was read
-- (encoding, delimiter, sheet, header row, column mapping).
ALTER TABLE imports
    ADD COLUMN unchanged integer NOT NULL DEFAULT 0,
    ADD COLUMN skipped   integer NOT NULL DEFAULT 0,
    ADD COLUMN opted_out integer NOT NULL DEFAULT 0,
    ADD COLUMN details   jsonb NOT NULL DEFAULT '{}';
