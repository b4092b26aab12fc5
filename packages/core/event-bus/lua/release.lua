-- release: hands back what a stopping consumer holds and no longer works on. The entries stay
-- pending on it, with their delivery counts, but idle as if abandoned long ago, so the next
-- claim of any other consumer of the group takes them instead of waiting out claim_idle_ms.
-- KEYS[1] stream
-- ARGV[1] group   ARGV[2] consumer   ARGV[3] idle ms   ARGV[4] most entries looked at
-- ARGV[5..n] entry ids kept (handlers still running)
-- Returns how many entries were handed back.
local kept = {}
for i = 5, #ARGV do
  kept[ARGV[i]] = true
end
local released = 0
for _, entry in ipairs(redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', tonumber(ARGV[4]), ARGV[2])) do
  if not kept[entry[1]] then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, entry[1], 'IDLE', ARGV[3], 'JUSTID')
    released = released + 1
  end
end
return released
