-- gcra: one rate-limit decision (generic cell rate algorithm), atomically, on Redis's clock.
-- The key holds the "theoretical arrival time" (TAT) in microseconds: when the bucket would
-- be empty again. All arithmetic is on integers below 2^53, so it is exact in Lua's doubles.
-- KEYS[1] the key
-- ARGV[1] emission interval in µs (window / limit)   ARGV[2] limit (burst)   ARGV[3] cost
-- Returns {1, remaining, 0} when allowed, {0, 0, retry_after_µs} when not.
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local interval = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local new_tat = tat + interval * cost
local allow_at = new_tat - interval * limit
if allow_at > now then return {0, 0, allow_at - now} end
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.ceil((new_tat - now) / 1000))
return {1, math.floor((now - allow_at) / interval), 0}
