-- @diana/gamification 0004: notices queued with their payment. A payment's transaction writes a
-- 'pending' row with its rendered text; the notices consumer claims every pending row of the user
-- ('sending') and tells them in one message ('sent', or 'undeliverable' when Telegram refuses).
alter table gamification_notices add column text text;
alter table gamification_notices drop constraint gamification_notices_state_check;
alter table gamification_notices add constraint gamification_notices_state_check
  check (state in ('pending', 'sending', 'sent', 'undeliverable'));
create index gamification_notices_pending_idx on gamification_notices (user_id, created_at) where state = 'pending';
