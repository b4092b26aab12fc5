-- cache-put: stores persistent slices' rows in the read-through cache, each unless the cache
-- already holds the same or a newer version of it (row versions only grow), so a slow reader
-- can never put an older row over a newer one. Version 0 records "no row". A record has the
-- layout of an ephemeral one, '-:<version>:<schema version>:<write id>|<JSON data>'. Several
-- rows of one turn go in one call; on a Redis Cluster the caller sends one user's keys only
-- (one hash tag {u:<id>}, one slot).
-- KEYS[i] the cache key of row i (a key may repeat: the newer version stays)
-- ARGV[1] ttl in ms; then two per row: the record, its version
-- Returns one reply per row: 1 when stored, 0 when the cache held the same or a newer version.
local out = {}
for i = 1, #KEYS do
  local record, version = ARGV[2 * i], tonumber(ARGV[2 * i + 1])
  local current = redis.call('GET', KEYS[i])
  if current and tonumber(string.match(current, '^[^:]*:(%d+):')) >= version then
    out[i] = 0
  else
    redis.call('SET', KEYS[i], record, 'PX', ARGV[1])
    out[i] = 1
  end
end
return out
