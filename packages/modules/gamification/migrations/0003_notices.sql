-- @diana/gamification 0003: telling users what they were paid.
-- besitos_transactions.note: why an admin adjusted a balance (shown in /historial); null otherwise.
-- gamification_notices: one row per event told to its user (the event id), written before the
--   message is sent, so a redelivered event is never told twice. state: 'sending' (claimed; a
--   crash before Telegram answered leaves it here, untold), 'sent', or 'undeliverable' (the user
--   blocked the bot, or the chat is gone: the payment stands, nobody retries).
alter table besitos_transactions add column note text check (note is null or char_length(note) <= 200);

create table gamification_notices (
  event_id   text primary key,
  user_id    uuid not null references users (id),
  state      text not null check (state in ('sending', 'sent', 'undeliverable')),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
