-- pecwatch registry, PostgreSQL flavour, ninth step: a check's full result is stored once
-- per change. Keep in step with ../sqlite/0009_check_results.sql, which explains it.
ALTER TABLE checks ADD COLUMN same_result BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE domains ADD COLUMN last_result_digest BIGINT;
