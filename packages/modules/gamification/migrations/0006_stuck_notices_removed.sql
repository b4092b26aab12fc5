-- @diana/gamification 0006: a notice left 'sending' (its process died mid-send) is removed after
-- the retention too, at least a day after its claim: it is never told again, and it was kept for
-- ever. Its index now holds every row past 'pending' (a claim enters it once more).
create index gamification_notices_past_pending_idx on gamification_notices (updated_at)
  where state in ('sending', 'sent', 'undeliverable');
drop index gamification_notices_done_idx;
