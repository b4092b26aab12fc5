-- gcra-batch: several rate-limit decisions in one call, each exactly what gcra.lua decides
-- alone, in the order asked (a key asked twice sees its first decision), all on one reading
-- of Redis's clock. The TAT (theoretical arrival time, µs) per key as in gcra.lua.
-- KEYS[1..n] the distinct keys of the batch. On a Redis Cluster the caller sends one key per
-- call (a batch coalesces repeats of that key), so every key of a call has the same hash tag
-- and slot; on one server it sends every key of the turn.
-- ARGV, four per decision: key index (1..n), emission interval in µs, limit, cost
-- Returns three integers per decision, in order: {1, remaining, 0} when allowed,
-- {0, 0, retry_after_µs} when not.
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local tats = {}
local dirty = {}
local out = {}
for i = 1, #ARGV, 4 do
  local k = tonumber(ARGV[i])
  local interval = tonumber(ARGV[i + 1])
  local limit = tonumber(ARGV[i + 2])
  local cost = tonumber(ARGV[i + 3])
  local tat = tats[k]
  if tat == nil then tat = tonumber(redis.call('GET', KEYS[k]) or '0') end
  if tat < now then tat = now end
  local new_tat = tat + interval * cost
  local allow_at = new_tat - interval * limit
  if allow_at > now then
    tats[k] = tat
    out[#out + 1] = 0
    out[#out + 1] = 0
    out[#out + 1] = allow_at - now
  else
    tats[k] = new_tat
    dirty[k] = true
    out[#out + 1] = 1
    out[#out + 1] = math.floor((now - allow_at) / interval)
    out[#out + 1] = 0
  end
end
-- one write per key that allowed a call: its last TAT, kept until the bucket is empty again
for k in pairs(dirty) do
  redis.call('SET', KEYS[k], string.format('%.0f', tats[k]), 'PX', math.ceil((tats[k] - now) / 1000))
end
return out
