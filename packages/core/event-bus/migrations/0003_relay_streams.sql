-- @diana/event-bus 0003: the Redis streams the outbox relay has appended to, by key, with their
-- event type. A stream found without its keep mark and with no history is either new or was
-- lost with Redis's data (a restart without AOF, a flush): a key already here was appended to
-- before, so it was lost, and the relay appends that type's recent rows again.
create table event_relay_streams (
  stream text primary key,
  type text not null,
  first_append_at timestamptz not null default clock_timestamp()
);
