-- check-keep: whether a stream the relay appended to before lost its data since (Redis restarted
-- without AOF, or flushed; or from an older snapshot, its last entries lost): keepState says
-- 'lost', or the append-once marker of the last event the relay's records say it appended there
-- (the witness) is gone — a process that starts together with such a Redis (a host's reboot) has
-- no floor of its own, and the marker is what the database can still point at. Marks it kept
-- again with the server's clock as an id — above every process's floor, not only this caller's —
-- so one caller alone is told. ('hist': appended to before marks were kept, the relay not told
-- yet: not lost, unless its witness is gone.)
-- KEYS[1]  the stream
-- KEYS[2]  its keep mark (same hash tag as the stream)
-- KEYS[3]  optional: the witness's marker (same hash tag); the id it holds counts as a floor
-- ARGV[1]  the floor: the highest id the caller's relayed appends got, '' for none
-- ARGV[2]  optional: 'unrecorded' — the relay's records miss the stream (a pass that failed after
--          its appends): without a keep mark it was never appended to here, and is not looked at
-- Returns 1 when it was lost; else the witness's id when one was given, else 0.
-- Runs after lua/keep.lua (keepState).
if ARGV[2] == 'unrecorded' and not redis.call('GET', KEYS[2]) then return 0 end
local floor = ARGV[1]
local seen = nil
if KEYS[3] then
  seen = redis.call('GET', KEYS[3])
  if seen and (floor == '' or before(floor, seen)) then floor = seen end
end
local _, state = keepState(KEYS[1], KEYS[2], floor)
if KEYS[3] and not seen then state = 'lost' end
if state ~= 'lost' then return seen or 0 end
redis.call('SET', KEYS[2], nowId())
return 1
