-- @diana/admin 0010: the events this module has told staff about (`gamification.adjustment_applied`:
-- "Hecho: …" to the admin who asked), one row per event id, written before the message is sent.
-- A retry of the event (its first attempt timed out while Telegram held the send, a 429's
-- retry_after, or it was redelivered) finds the row and sends nothing: at most once per event.
create table admin_told_events (
  event_id text primary key,
  told_at  timestamptz not null default now()
);
