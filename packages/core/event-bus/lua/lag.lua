-- lag: counts the entries of a stream after a group's position, for when Redis cannot tell the
-- group's lag (XINFO GROUPS answers nil once an entry past that position was deleted). Counts a
-- thousand entries a call of XRANGE, and at most ARGV[2] in all: a long backlog costs Redis
-- bounded work, and the count is then a lower bound.
-- KEYS[1] stream
-- ARGV[1] the group's last-delivered id   ARGV[2] most entries counted
-- Returns the count.
local cap = tonumber(ARGV[2])
local counted = 0
local after = '(' .. ARGV[1]
while counted < cap do
  local want = math.min(1000, cap - counted)
  local batch = redis.call('XRANGE', KEYS[1], after, '+', 'COUNT', want)
  counted = counted + #batch
  if #batch < want then
    break
  end
  after = '(' .. batch[#batch][1]
end
return counted
