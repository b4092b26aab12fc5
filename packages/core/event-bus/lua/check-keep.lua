-- check-keep: whether a stream the relay appended to before lost its data since (Redis restarted
-- without AOF, or flushed): its keep mark is gone and its history is empty, or a direct publish
-- found it so ('lost'). Marks it kept again, so one caller alone is told. ('hist': appended to
-- before marks were kept, the relay not told yet: not lost.)
-- KEYS[1]  the stream
-- KEYS[2]  its keep mark (same hash tag as the stream)
-- Returns 1 when it was lost, else 0.
local mark = redis.call('GET', KEYS[2])
if mark == 'ok' or mark == 'hist' then return 0 end
local lost = mark == 'lost'
if not mark then
  if redis.call('EXISTS', KEYS[1]) == 0 then
    lost = true
  else
    local info = redis.pcall('XINFO', 'STREAM', KEYS[1])
    if info.err then return 0 end
    for f = 1, #info, 2 do
      if info[f] == 'entries-added' then lost = tonumber(info[f + 1]) == 0 end
    end
  end
end
redis.call('SET', KEYS[2], 'ok')
if lost then return 1 end
return 0
