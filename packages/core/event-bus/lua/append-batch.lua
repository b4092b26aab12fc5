-- append-batch: appends batches of entries to one or more streams (one server: several in one
-- call; a cluster: one stream per call), each stream's in the order given. An entry with a
-- dedupe marker (outbox relay) is appended only if its marker is unset; the marker then holds
-- the entry id for its TTL, so a second append of the same event returns the first id.
-- KEYS       per stream, in the order of ARGV's batches: the stream, then its dedupe markers
--            (same hash tag as the stream), one per deduplicated entry, in the order of those
--            entries
-- ARGV[1]    MAXLEN safety cap
-- ARGV[2..]  per stream: its number of entries n, then two per entry: the marker TTL in ms
--            ('' for an entry without a marker), then the encoded envelope
-- Returns one reply per entry, in the order given: its entry id, or '!' followed by the error
-- of its append (an error fails that entry only).
local out = {}
local k = 1
local i = 2
while i <= #ARGV do
  local stream = KEYS[k]
  k = k + 1
  local last = i + 2 * tonumber(ARGV[i])
  for j = i + 1, last, 2 do
    local ttl, raw = ARGV[j], ARGV[j + 1]
    local key = nil
    local existing = nil
    if ttl ~= '' then
      key = KEYS[k]
      k = k + 1
      existing = redis.call('GET', key)
    end
    if existing then
      out[#out + 1] = existing
    else
      local id = redis.pcall('XADD', stream, 'MAXLEN', '~', ARGV[1], '*', 'e', raw)
      if type(id) == 'table' and id.err then
        out[#out + 1] = '!' .. id.err
      else
        if key then redis.call('SET', key, id, 'PX', ttl) end
        out[#out + 1] = id
      end
    end
  end
  i = last + 1
end
return out
