-- check-keep: whether a stream the relay appended to before lost its data since (Redis restarted
-- without AOF, or flushed; or from an older snapshot, its last entries lost): keepState says
-- 'lost'. Marks it kept again with the server's clock as an id — above every process's floor,
-- not only this caller's — so one caller alone is told. ('hist': appended to before marks were
-- kept, the relay not told yet: not lost.)
-- KEYS[1]  the stream
-- KEYS[2]  its keep mark (same hash tag as the stream)
-- ARGV[1]  the floor: the highest id the caller's relayed appends got, '' for none
-- Returns 1 when it was lost, else 0. Runs after lua/keep.lua (keepState).
local _, state = keepState(KEYS[1], KEYS[2], ARGV[1])
if state ~= 'lost' then return 0 end
redis.call('SET', KEYS[2], nowId())
return 1
