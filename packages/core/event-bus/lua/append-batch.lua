-- append-batch: appends batches of entries to one or more streams (one server: several in one
-- call; a cluster: one stream per call), each stream's in the order given. An entry with a
-- dedupe marker (outbox relay) is appended only if its marker is unset; the marker then holds
-- the entry id for its TTL, so a second append of the same event returns the first id.
-- Each stream has a keep mark beside it, set 'ok' once the relay has been told of the stream: a
-- stream without one whose history is empty too (none, or nothing ever added) is new or lost
-- its data since the last append (Redis restarted without AOF, or flushed), and the entries the
-- relay appended before and nobody read yet are gone; one without a mark but with history was
-- appended to before marks were kept. The relay's entries of the first batch that meets such a
-- stream say so, once: '~' before their id (no history), '^' (history). A batch with no relayed
-- entry leaves the mark 'lost' or 'hist' for the relay's next batch to see.
-- KEYS       per stream, in the order of ARGV's batches: the stream, its keep mark, then its
--            dedupe markers (same hash tag as the stream), one per deduplicated entry, in the
--            order of those entries
-- ARGV[1]    MAXLEN safety cap
-- ARGV[2..]  per stream: its number of entries n, then two per entry: the marker TTL in ms
--            ('' for an entry without a marker), then the encoded envelope
-- Returns one reply per entry, in the order given: its entry id (with '~' or '^' before it, as
-- above), or '!' followed by the error of its append (an error fails that entry only).
local out = {}
local k = 1
local i = 2

-- true when the stream has never had an entry added (missing, or made empty by a group's MKSTREAM)
local function emptyHistory(stream)
  if redis.call('EXISTS', stream) == 0 then return true end
  local info = redis.pcall('XINFO', 'STREAM', stream)
  -- not a stream (WRONGTYPE): its XADD fails each entry below
  if info.err then return false end
  for f = 1, #info, 2 do
    if info[f] == 'entries-added' then return tonumber(info[f + 1]) == 0 end
  end
  return false
end

while i <= #ARGV do
  local stream, keep = KEYS[k], KEYS[k + 1]
  k = k + 2
  local last = i + 2 * tonumber(ARGV[i])
  local relayed = false
  for j = i + 1, last, 2 do
    if ARGV[j] ~= '' then relayed = true end
  end
  -- 'ok', 'lost', 'hist' or nil (no mark: the stream's history decides)
  local mark = redis.call('GET', keep)
  local state = mark
  if not state then state = emptyHistory(stream) and 'lost' or 'hist' end
  local tell = ''
  if state ~= 'ok' then
    if relayed then
      redis.call('SET', keep, 'ok')
      tell = state == 'lost' and '~' or '^'
    elseif not mark then
      redis.call('SET', keep, state)
    end
  end
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
        redis.call('SET', key, id, 'PX', ttl)
        out[#out + 1] = tell .. id
      else
        out[#out + 1] = id
      end
    end
  end
  i = last + 1
end
return out
