-- @diana/admin 0009: the Telegram update a staff command's audit row was written for. Telegram
-- sends an update again when its handling outlived the bot's dedupe lease, or its process died
-- after the commit, or Redis was down (dedupe then per process): a second row of one action for
-- one update is refused, and the command's transaction, which holds its effect (a besitos grant,
-- a scheduled post, a token, a role change), is rolled back. Null: written by no update (jobs,
-- syncOwners) or before this migration.
alter table admin_audit add column update_id bigint;
create unique index admin_audit_update_idx on admin_audit (action, update_id) where update_id is not null;
