-- @diana/admin 0002: scheduled posts carry their own URL buttons (rows of { text, url }).
alter table admin_scheduled_posts add column buttons jsonb not null default '[]'::jsonb;
