-- append-once: appends an entry unless this dedupe id was appended before (outbox relay).
-- KEYS[1] stream            KEYS[2] dedupe marker (same hash tag as the stream)
-- ARGV[1] marker TTL (ms)   ARGV[2] MAXLEN safety cap   ARGV[3] encoded envelope
-- Returns the entry id: the new one, or the one appended first for this dedupe id.
local existing = redis.call('GET', KEYS[2])
if existing then
  return existing
end
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', 'e', ARGV[3])
redis.call('SET', KEYS[2], id, 'PX', ARGV[1])
return id
