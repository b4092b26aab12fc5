-- @diana/security 0001: single-use tokens (VIP invitations and the like).
-- Only a keyed hash of each token is stored (HMAC-SHA256 with the token pepper), so a copy of
-- the table does not let anyone redeem anything. `used_at` is set exactly once, by the
-- statement that redeems it.
create table security_tokens (
  id          uuid primary key,
  purpose     text not null check (purpose ~ '^[a-z][a-z0-9_.]{0,63}$'),
  token_hash  bytea not null unique,
  data        jsonb not null default '{}'::jsonb,
  created_at  timestamptz not null default now(),
  expires_at  timestamptz not null,
  used_at     timestamptz,
  used_by     text
);

create index security_tokens_expires_idx on security_tokens (expires_at) where used_at is null;
