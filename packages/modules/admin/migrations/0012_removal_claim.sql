-- @diana/admin 0012: a channel removal on its way, and the link a member was sent.
-- removal_claimed_until: the process removing a member claims it (committed) until this time and
-- calls Telegram with no transaction open, as an invite's claim (0011). Before, the removal held
-- the subscription's row lock for its calls, and with it a database connection (the embedded
-- database's only one): a slow Telegram made every other update wait.
-- invite_link: the one-use link last sent, revoked when the member is removed or sent a new one.
-- Before, a cancelled member's unused link let them (or whoever they gave it to) join again until
-- the subscription's original end.
alter table admin_subscriptions add column removal_claimed_until timestamptz, add column invite_link text;
