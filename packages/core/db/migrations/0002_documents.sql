-- @diana/db 0002: documents — the PostgreSQL adapter of the DocumentStore port.
-- One row per (collection, id); `version` grows by one on every write (optimistic concurrency);
-- the GIN index serves `find` by top-level equality (data @> '{"field": value}').
create table documents (
  collection text not null check (char_length(collection) between 1 and 128),
  id         text not null check (char_length(id) between 1 and 256),
  version    integer not null check (version > 0),
  data       jsonb not null check (jsonb_typeof(data) = 'object'),
  updated_at timestamptz not null default now(),
  primary key (collection, id)
);

create index documents_data_idx on documents using gin (data jsonb_path_ops);
