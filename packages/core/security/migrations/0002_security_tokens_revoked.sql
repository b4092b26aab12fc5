-- @diana/security 0002: a revoked token says so. `revoked_at` is set once, by the statement
-- that revokes an unused, unexpired token; a redeem refuses it with E_SECURITY_TOKEN_REVOKED
-- (expired and revoked were one answer before). Tokens revoked by an earlier version had their
-- expiry moved to the moment of the revoke and stay expired.
alter table security_tokens add column revoked_at timestamptz;
