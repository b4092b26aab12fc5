-- Persistent user-state slices: one row per (user, slice), the slice's one home.
-- `version` counts writes and only grows (rows are never deleted by the manager), so a cached
-- copy with a lower version is always older. `write_id` names the write that produced the
-- row, so a writer whose reply was lost can tell whether its write landed.
create table user_state (
  user_id text not null,
  slice text not null,
  version bigint not null check (version > 0),
  schema_version integer not null check (schema_version > 0),
  data jsonb not null,
  write_id text not null,
  updated_at timestamptz not null default now(),
  primary key (user_id, slice)
);
