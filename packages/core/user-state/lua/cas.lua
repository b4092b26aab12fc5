-- cas: compare-and-set of one ephemeral slice. The record is one string,
-- '<generation>:<version>:<schema version>:<write id>|<JSON data>'; the generation is a random
-- id given when the record is created, so a record that expired and came back never matches
-- a token of its predecessor.
-- KEYS[1] the slice's key
-- ARGV[1] expected token '<generation>:<version>' ('' = no record)
-- ARGV[2] generation if creating   ARGV[3] schema version   ARGV[4] write id
-- ARGV[5] JSON data   ARGV[6] ttl in ms
-- Returns {generation, version} when written; when the token did not match, the record that
-- stands (so the caller needs no read before trying again), or 0 when there is none.
local current = redis.call('GET', KEYS[1])
local generation, version
if current then
  local g, v = string.match(current, '^([^:]*):(%d+):')
  if ARGV[1] ~= g .. ':' .. v then return current end
  generation = g
  version = tonumber(v) + 1
else
  if ARGV[1] ~= '' then return 0 end
  generation = ARGV[2]
  version = 1
end
redis.call('SET', KEYS[1], generation .. ':' .. version .. ':' .. ARGV[3] .. ':' .. ARGV[4] .. '|' .. ARGV[5], 'PX', ARGV[6])
return {generation, version}
