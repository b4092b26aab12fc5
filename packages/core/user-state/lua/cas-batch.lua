-- cas-batch: several compare-and-sets of ephemeral slices in one call, each exactly what
-- cas.lua does alone, in the order asked (a key written twice: the second sees the first).
-- On a Redis Cluster the caller sends the keys of one user only, which share the same hash
-- tag {u:<id>} and so one slot; on one server it sends every write of the turn.
-- KEYS[i] the slice key of write i (a key may repeat)
-- ARGV, six per write: expected token ('' = no record), generation if creating, schema
-- version, write id, JSON data, ttl in ms
-- Returns one reply per write: {generation, version} when written; when its token did not
-- match, the record that stands, or 0 when there is none (as cas.lua).
local out = {}
for i = 1, #KEYS do
  local a = (i - 1) * 6
  local current = redis.call('GET', KEYS[i])
  local generation, version
  local ok = true
  if current then
    local g, v = string.match(current, '^([^:]*):(%d+):')
    if ARGV[a + 1] ~= g .. ':' .. v then
      ok = false
    else
      generation = g
      version = tonumber(v) + 1
    end
  elseif ARGV[a + 1] ~= '' then
    ok = false
  else
    generation = ARGV[a + 2]
    version = 1
  end
  if ok then
    redis.call('SET', KEYS[i], generation .. ':' .. version .. ':' .. ARGV[a + 3] .. ':' .. ARGV[a + 4] .. '|' .. ARGV[a + 5], 'PX', ARGV[a + 6])
    out[i] = {generation, version}
  else
    out[i] = current or 0 -- GET gives false for no record
  end
end
return out
