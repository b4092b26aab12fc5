-- @diana/config 0001: runtime configuration (ConfigManager).
-- config_templates: what code defines (key, type, JSON Schema for admin forms, defaults),
--   upserted by every process on start.
-- config_instances: concrete values of a template for a scope; draft → active → archived; at
--   most one active instance per (template, scope). `seq` is taken from config_change_seq on
--   every change to what is active, so processes apply only changes newer than what they hold.
-- config_revisions: immutable history of every instance (values, JSON Patch diff, actor, reason).
create table config_templates (
  key         text primary key,
  type        text not null check (type in ('experience', 'event', 'mission_chain', 'setting')),
  description text not null default '',
  json_schema jsonb not null,
  defaults    jsonb not null,
  updated_at  timestamptz not null default now()
);

create sequence config_change_seq;

create table config_instances (
  id           uuid primary key,
  template_key text not null references config_templates (key),
  scope        text not null,
  status       text not null check (status in ('draft', 'active', 'archived')),
  values       jsonb not null,
  version      integer not null default 1,
  revision     integer not null default 1,
  seq          bigint not null default 0,
  created_by   text not null,
  created_at   timestamptz not null default now(),
  updated_at   timestamptz not null default now()
);

create unique index config_instances_one_active on config_instances (template_key, scope) where status = 'active';
create index config_instances_template_idx on config_instances (template_key, status);

create table config_revisions (
  instance_id uuid not null references config_instances (id),
  revision    integer not null,
  action      text not null check (action in ('create', 'update', 'publish', 'archive', 'rollback')),
  values      jsonb not null,
  diff        jsonb not null,
  actor       text not null,
  reason      text not null,
  created_at  timestamptz not null default now(),
  primary key (instance_id, revision)
);
