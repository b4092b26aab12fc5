-- @diana/admin 0006: a subscription staff cancelled (/cancelar_vip: a refund, abuse) keeps its
-- row with status 'cancelled' and `expired_at` the moment it ended; the jobs only touch 'active'
-- ones, and a later redeem starts a new period from that moment, not from the old end.
alter table admin_subscriptions drop constraint admin_subscriptions_status_check;
alter table admin_subscriptions add constraint admin_subscriptions_status_check
  check (status in ('active', 'expired', 'cancelled'));
