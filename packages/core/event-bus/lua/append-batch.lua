-- append-batch: appends batches of entries to one or more streams (one server: several in one
-- call; a cluster: one stream per call), each stream's in the order given. An entry with a
-- dedupe marker (outbox relay) is appended only if its marker is unset; the marker then holds
-- the entry id for its TTL, so a second append of the same event returns the first id.
-- Each stream has a keep mark beside it, set by every batch with a relayed entry to the id of
-- the batch's last entry. A stream without one whose history is empty too (none, or nothing ever
-- added) is new or lost its data since the last append (Redis restarted without AOF, or
-- flushed), and the entries the relay appended before and nobody read yet are gone; one without a
-- mark but with history was appended to before marks were kept. A stream whose mark (or, without
-- an id in it, whose last generated id) lies below the floor the caller sends — the highest id
-- its relayed appends got — lost its last entries (Redis restarted from an older snapshot, or a
-- replica behind took over): taken as lost too. The relay's entries of the first batch that
-- meets such a stream say so, once: '~' before their id (lost), '^' (history). A batch with no
-- relayed entry leaves a missing mark 'lost' or 'hist' for the relay's next batch to see.
-- KEYS       per stream, in the order of ARGV's batches: the stream, its keep mark, then its
--            dedupe markers (same hash tag as the stream), one per deduplicated entry, in the
--            order of those entries
-- ARGV[1]    MAXLEN safety cap
-- ARGV[2..]  per stream: its floor ('' for none), its number of entries n, then two per entry:
--            the marker TTL in ms ('' for an entry without a marker), then the encoded envelope
-- Returns one reply per entry, in the order given: its entry id (with '~' or '^' before it, as
-- above), or '!' followed by the error of its append (an error fails that entry only).
-- Runs after lua/keep.lua (keepState).
local out = {}
local k = 1
local i = 2

while i <= #ARGV do
  local stream, keep = KEYS[k], KEYS[k + 1]
  k = k + 2
  local floor = ARGV[i]
  i = i + 1
  local last = i + 2 * tonumber(ARGV[i])
  local relayed = false
  for j = i + 1, last, 2 do
    if ARGV[j] ~= '' then relayed = true end
  end
  local mark, state = keepState(stream, keep, floor)
  local tell = ''
  if state == 'lost' or state == 'hist' then
    if relayed then
      tell = state == 'lost' and '~' or '^'
    elseif not mark then
      redis.call('SET', keep, state)
    end
  end
  local newest = nil
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
      elseif key then
        newest = id
        redis.call('SET', key, id, 'PX', ttl)
        out[#out + 1] = tell .. id
      else
        out[#out + 1] = id
      end
    end
  end
  if relayed and newest then redis.call('SET', keep, newest) end
  i = last + 1
end
return out
