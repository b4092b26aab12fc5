-- @diana/event-bus 0001: the transactional outbox and the consumer inbox.
-- event_outbox: events written with the business change (publish(..., { tx })); the relay
--   appends unpublished rows to their streams in id order (UUIDv7: creation order) and marks
--   them. `envelope` is the exact encoded text appended.
-- event_inbox: (group, event id) recorded inside a handler's own transaction, so the
--   handler's effects happen exactly once per group even when the event is redelivered.
create table event_outbox (
  id           uuid primary key,
  type         text not null,
  key          text,
  envelope     text not null,
  created_at   timestamptz not null default now(),
  published_at timestamptz
);

create index event_outbox_unpublished_idx on event_outbox (id) where published_at is null;

create table event_inbox (
  group_name   text not null,
  event_id     uuid not null,
  processed_at timestamptz not null default now(),
  primary key (group_name, event_id)
);
