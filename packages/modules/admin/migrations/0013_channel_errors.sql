-- @diana/admin 0013: Telegram's answer to the last failed try of a VIP channel call still owed
-- (a member's removal, an invite), up to 500 characters ("400: Bad Request: can't remove chat
-- owner"), cleared when the call goes through or a new one is owed. /stats lists the calls that
-- failed five times or more with it. Before, only the logs said why a removal never went through,
-- and the jobs tried it hourly for good.
alter table admin_subscriptions add column removal_error text, add column invite_error text;
