-- @diana/event-bus 0002: an outbox row's created_at is when the row was written, not when the
-- publishing transaction began (now()). A transaction's publishes are written with its COMMIT,
-- so this is about when the event was committed: the outbox's oldest-row age and any "outbox →
-- handled" delivery time then leave out how long the publisher's own transaction ran.
-- A default's change only: no row is rewritten.
alter table event_outbox alter column created_at set default clock_timestamp();
