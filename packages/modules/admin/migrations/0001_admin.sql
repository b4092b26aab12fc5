-- @diana/admin 0001: audit, tariffs, subscriptions and scheduled posts.
create table admin_audit (
  id         uuid primary key,
  actor      text not null,
  action     text not null,
  target     text,
  reason     text not null default '',
  details    jsonb not null default '{}'::jsonb,
  created_at timestamptz not null default now()
);
create index admin_audit_created_idx on admin_audit (created_at);

create table admin_tariffs (
  id         uuid primary key,
  name       text not null unique check (name ~ '^[a-z0-9_]{1,32}$'),
  days       integer not null check (days between 1 and 3660),
  price      integer not null check (price >= 0),
  created_by text not null,
  created_at timestamptz not null default now()
);

-- one subscription row per user: started or extended by each redeemed token
create table admin_subscriptions (
  user_id        uuid primary key references users (id),
  tariff_id      uuid not null references admin_tariffs (id),
  started_at     timestamptz not null,
  ends_at        timestamptz not null,
  status         text not null check (status in ('active', 'expired')),
  reminded_7d_at  timestamptz,
  reminded_24h_at timestamptz,
  expired_at     timestamptz
);
create index admin_subscriptions_due_idx on admin_subscriptions (ends_at) where status = 'active';

create table admin_scheduled_posts (
  id           uuid primary key,
  channel_id   text not null,
  text         text not null,
  publish_at   timestamptz not null,
  status       text not null check (status in ('pending', 'publishing', 'published', 'failed')),
  claimed_at   timestamptz,
  published_at timestamptz,
  message_id   bigint,
  error        text,
  created_by   text not null,
  created_at   timestamptz not null default now()
);
create index admin_scheduled_posts_due_idx on admin_scheduled_posts (publish_at) where status = 'pending';
