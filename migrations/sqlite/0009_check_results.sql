-- pecwatch registry, SQLite flavour, ninth step: a check's full result is stored once per
-- change. Keep in step with ../postgres/0009_check_results.sql.
--
-- A domain checked every day mostly gets the same result day after day: a check whose
-- full result is the same as the domain's previous check's (the one before it, by id)
-- stores JSON null in `result` and says so in `same_result`; the registry reads it back
-- as that previous result, so the history stays complete. The domain keeps a digest of
-- its latest check's result (the first 8 bytes of the SHA-256 of its JSON, as a signed
-- integer) to tell.
ALTER TABLE checks ADD COLUMN same_result BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE domains ADD COLUMN last_result_digest INTEGER;
