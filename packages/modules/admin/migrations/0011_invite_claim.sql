-- @diana/admin 0011: an invite link on its way. The process sending a member's invite link
-- claims it (committed) until this time and calls Telegram with no transaction open; a sweep
-- skips a live claim. Before, the row stayed locked for the calls, holding a database connection
-- (the embedded database's only one) while Telegram was slow: every other update waited.
alter table admin_subscriptions add column invite_claimed_until timestamptz;
