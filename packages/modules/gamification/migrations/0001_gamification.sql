-- @diana/gamification 0001: the besitos ledger and what the economy remembers.
-- balances: one row per user, never below zero (CHECK), with the lifetime total earned.
-- besitos_transactions: append-only; a source event pays at most once (UNIQUE source_event_id);
--   `day` is the calendar day in the bot's timezone, for daily caps.
create table gamification_balances (
  user_id    uuid primary key references users (id),
  besitos    bigint not null default 0 check (besitos >= 0),
  lifetime   bigint not null default 0 check (lifetime >= 0),
  updated_at timestamptz not null default now()
);

create table besitos_transactions (
  id              uuid primary key,
  user_id         uuid not null references users (id),
  amount          integer not null check (amount <> 0),
  kind            text not null check (kind in ('earn', 'spend', 'gift', 'adjust')),
  source          text not null,
  source_event_id text not null unique,
  day             date not null,
  created_at      timestamptz not null default now()
);
create index besitos_transactions_user_day_idx on besitos_transactions (user_id, day);

create table gamification_daily_gifts (
  user_id       uuid primary key references users (id),
  last_claim_at timestamptz not null,
  streak        integer not null check (streak >= 1)
);

-- one reaction per user per post
create table gamification_reactions (
  user_id    uuid not null references users (id),
  post_id    text not null,
  created_at timestamptz not null default now(),
  primary key (user_id, post_id)
);

-- per-user event counters (achievements) and per-period mission progress
create table gamification_counters (
  user_id uuid not null references users (id),
  counter text not null,
  count   integer not null,
  primary key (user_id, counter)
);
create table gamification_mission_progress (
  user_id      uuid not null references users (id),
  mission_id   text not null,
  period       text not null,
  count        integer not null,
  completed_at timestamptz,
  primary key (user_id, mission_id, period)
);
create table gamification_achievements (
  user_id        uuid not null references users (id),
  achievement_id text not null,
  unlocked_at    timestamptz not null default now(),
  primary key (user_id, achievement_id)
);

-- the shop: each purchase button carries a nonce used at most once; owned items
create table gamification_purchases (
  nonce      text primary key,
  user_id    uuid not null references users (id),
  item_id    text not null,
  created_at timestamptz not null default now()
);
create table gamification_inventory (
  user_id     uuid not null references users (id),
  item_id     text not null,
  acquired_at timestamptz not null default now(),
  primary key (user_id, item_id)
);
