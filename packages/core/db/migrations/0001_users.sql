-- @diana/db 0001: users — the one authoritative home of a user's role and status.
-- Writes: UserRepository. ids are UUIDv7 made by the app (PostgreSQL 15 has no uuidv7()).
create table users (
  id            uuid primary key,
  telegram_id   bigint not null unique check (telegram_id > 0),
  username      text check (username is null or char_length(username) between 1 and 64),
  first_name    text not null check (char_length(first_name) between 1 and 128),
  last_name     text check (last_name is null or char_length(last_name) <= 128),
  language_code text check (language_code is null or char_length(language_code) <= 16),
  role          text not null default 'FREE'
                check (role in ('OWNER', 'ADMIN', 'MODERATOR', 'CONTENT_CREATOR', 'VIP', 'FREE', 'BANNED')),
  status        text not null default 'active' check (status in ('active', 'blocked', 'banned')),
  created_at    timestamptz not null default now(),
  updated_at    timestamptz not null default now(),
  last_seen_at  timestamptz
);

create index users_role_idx on users (role) where role <> 'FREE';
