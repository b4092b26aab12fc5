-- @diana/gamification 0005: told notices are removed after their retention. Only a notice's
-- last update ('sent' or 'undeliverable') enters this index; the module's prune reads it oldest
-- first (a row that stays 'sending', a crash mid-send, is kept: nobody knows whether it was told).
create index gamification_notices_done_idx on gamification_notices (updated_at)
  where state in ('sent', 'undeliverable');
