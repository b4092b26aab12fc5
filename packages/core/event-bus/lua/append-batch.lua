-- append-batch: appends a batch of entries to one stream, in the order given. An entry with
-- a dedupe marker (outbox relay) is appended only if its marker is unset; the marker then
-- holds the entry id for its TTL, so a second append of the same event returns the first id.
-- KEYS[1]    stream
-- KEYS[2..]  the dedupe markers (same hash tag as the stream), one per deduplicated entry,
--            in the order of those entries
-- ARGV[1]    MAXLEN safety cap
-- ARGV[2..]  two per entry: the marker TTL in ms ('' for an entry without a marker), then
--            the encoded envelope
-- Returns one reply per entry: its entry id, or '!' followed by the error of its append.
local out = {}
local marker = 1
for i = 2, #ARGV, 2 do
  local ttl, raw = ARGV[i], ARGV[i + 1]
  local key = nil
  local existing = nil
  if ttl ~= '' then
    marker = marker + 1
    key = KEYS[marker]
    existing = redis.call('GET', key)
  end
  if existing then
    out[#out + 1] = existing
  else
    local id = redis.pcall('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'e', raw)
    if type(id) == 'table' and id.err then
      out[#out + 1] = '!' .. id.err
    else
      if key then redis.call('SET', key, id, 'PX', ttl) end
      out[#out + 1] = id
    end
  end
end
return out
