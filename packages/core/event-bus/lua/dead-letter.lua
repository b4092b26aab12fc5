-- dead-letter: acknowledges an entry for a group and records it in the dead-letter stream,
-- atomically. Does nothing when the entry is no longer pending for the group (another
-- consumer already acknowledged or dead-lettered it), so a letter is never written twice.
-- KEYS[1] stream   KEYS[2] dead-letter stream (same hash tag)
-- ARGV[1] group    ARGV[2] entry id   ARGV[3] error   ARGV[4] attempts   ARGV[5] failed_at (ISO)
-- ARGV[6] MAXLEN safety cap of the dead-letter stream
-- Returns 1 when written, 0 when the entry was not pending.
local entry = redis.call('XRANGE', KEYS[1], ARGV[2], ARGV[2])
local raw = ''
if entry[1] then
  local fields = entry[1][2]
  for i = 1, #fields, 2 do
    if fields[i] == 'e' then raw = fields[i + 1] end
  end
end
if redis.call('XACK', KEYS[1], ARGV[1], ARGV[2]) == 0 then
  return 0
end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[6], '*',
  'e', raw, 'group', ARGV[1], 'error', ARGV[3], 'attempts', ARGV[4], 'failed_at', ARGV[5], 'original_id', ARGV[2])
return 1
