-- cache-put: stores a persistent slice's row in the read-through cache unless the cache
-- already holds the same or a newer version (row versions only grow), so a slow reader can
-- never put an older row over a newer one. Version 0 records "no row". The record has the
-- layout of an ephemeral one, '-:<version>:<schema version>:<write id>|<JSON data>'.
-- KEYS[1] the cache key
-- ARGV[1] the record   ARGV[2] its version   ARGV[3] ttl in ms
-- Returns 1 when stored, 0 when the cache held the same or a newer version.
local current = redis.call('GET', KEYS[1])
if current and tonumber(string.match(current, '^[^:]*:(%d+):')) >= tonumber(ARGV[2]) then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
return 1
