-- @diana/admin 0005: a scheduled post's send that failed for a reason that may pass (Telegram
-- unreachable, a 5xx, a 429 past auto-retry's attempts) is tried again at `retry_at`, up to five
-- attempts in all; `attempts` counts the claims (a claim taken over from a process that died
-- counts too).
alter table admin_scheduled_posts add column attempts int not null default 0;
alter table admin_scheduled_posts add column retry_at timestamptz;
