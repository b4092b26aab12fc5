-- replay: moves dead letters back onto their stream, marked for the group that failed them
-- (field g), so only that group handles them again.
-- KEYS[1] stream   KEYS[2] dead-letter stream (same hash tag)
-- ARGV[1] MAXLEN safety cap   ARGV[2..n] dead-letter ids
-- Returns how many were replayed.
local replayed = 0
for i = 2, #ARGV do
  local letter = redis.call('XRANGE', KEYS[2], ARGV[i], ARGV[i])
  if letter[1] then
    local fields = letter[1][2]
    local raw, group = '', ''
    for j = 1, #fields, 2 do
      if fields[j] == 'e' then raw = fields[j + 1] end
      if fields[j] == 'group' then group = fields[j + 1] end
    end
    redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'e', raw, 'g', group)
    redis.call('XDEL', KEYS[2], ARGV[i])
    replayed = replayed + 1
  end
end
return replayed
