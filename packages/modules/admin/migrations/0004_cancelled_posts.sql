-- @diana/admin 0004: a scheduled post staff cancelled before it was claimed (/cancelar_post)
-- keeps its row with status 'cancelled'; the jobs loop only claims 'pending' ones.
alter table admin_scheduled_posts drop constraint admin_scheduled_posts_status_check;
alter table admin_scheduled_posts add constraint admin_scheduled_posts_status_check
  check (status in ('pending', 'publishing', 'published', 'failed', 'cancelled'));
