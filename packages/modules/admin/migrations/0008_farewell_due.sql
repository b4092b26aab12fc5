-- @diana/admin 0008: the farewell an expired subscription's member is still owed, kept on its row
-- until a jobs pass has claimed it (null: none owed). The expiry's transaction sets it and the same
-- pass sends it after the commit; before, it lived only in that pass's memory, and an error in
-- the loop after the commit (PostgreSQL dropping the connection during one member's channel
-- removal) lost the farewells of every member after it for good. A pass claims it (sets it null,
-- committed) before sending: at most once.
alter table admin_subscriptions add column farewell_due_at timestamptz;
create index admin_subscriptions_farewell_due_idx on admin_subscriptions (farewell_due_at)
  where farewell_due_at is not null;
