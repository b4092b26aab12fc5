-- @diana/admin 0007: what the VIP channel is still owed for a subscription, kept until Telegram
-- has taken it: a member's removal once the subscription ended (expired, cancelled), and a new
-- member's invite link once it started. Both are Telegram calls made after the commit; before,
-- each was tried once, and a refusal, a 5xx or a crash in between left an ended member in the
-- channel for good, or a paying one without a way in. The jobs try what is due again.
alter table admin_subscriptions
  add column removal_due_at   timestamptz,
  add column removal_attempts integer not null default 0,
  add column invite_due_at    timestamptz,
  add column invite_attempts  integer not null default 0;
create index admin_subscriptions_removal_due_idx on admin_subscriptions (removal_due_at)
  where removal_due_at is not null;
create index admin_subscriptions_invite_due_idx on admin_subscriptions (invite_due_at)
  where invite_due_at is not null;
