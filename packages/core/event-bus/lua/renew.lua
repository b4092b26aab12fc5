-- renew: resets the idle time of entries a consumer is still working on (lease renewal),
-- but only of those it still owns: an entry another consumer has claimed stays theirs.
-- KEYS[1] stream
-- ARGV[1] group   ARGV[2] consumer   ARGV[3..n] entry ids
-- Returns how many entries were renewed.
local renewed = 0
for i = 3, #ARGV do
  local pending = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1)
  if pending[1] and pending[1][2] == ARGV[2] then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'JUSTID')
    renewed = renewed + 1
  end
end
return renewed
