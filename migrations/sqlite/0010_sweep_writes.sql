-- pecwatch registry, SQLite flavour, tenth step: cheaper sweep writes. Keep in step with
-- ../postgres/0010_sweep_writes.sql.
--
-- PostgreSQL leaves more room on each page of `domains` for the claims' in-place updates
-- and drops the foreign keys of `checks` (a query per inserted row there). SQLite has
-- neither cost (its foreign key checks are index lookups in the same process, and it
-- rewrites a row in place), so nothing changes here; the step exists so that both
-- flavours keep the same numbering.
SELECT 1;
