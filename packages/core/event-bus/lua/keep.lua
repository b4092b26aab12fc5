-- keep: what a stream's keep mark says, shared by append-batch and check-keep (prepended to each).
-- The mark holds the id of the last entry a batch with a relayed entry added ('ok' before ids
-- were kept), or 'lost' / 'hist' left by a batch without one; missing, the stream's history
-- decides.

-- true when the stream has never had an entry added (missing, or made empty by a group's MKSTREAM)
local function emptyHistory(stream)
  if redis.call('EXISTS', stream) == 0 then return true end
  local info = redis.pcall('XINFO', 'STREAM', stream)
  -- not a stream (WRONGTYPE): its XADD fails each entry
  if info.err then return false end
  for f = 1, #info, 2 do
    if info[f] == 'entries-added' then return tonumber(info[f + 1]) == 0 end
  end
  return false
end

-- the stream's last generated id, or nil (missing, or not a stream)
local function lastGenerated(stream)
  local info = redis.pcall('XINFO', 'STREAM', stream)
  if info.err then return nil end
  for f = 1, #info, 2 do
    if info[f] == 'last-generated-id' then return info[f + 1] end
  end
  return nil
end

-- whether entry id a comes before b ('ms-seq'; false when either is not an id)
local function before(a, b)
  local am, as = string.match(a, '^(%d+)%-(%d+)$')
  local bm, bs = string.match(b, '^(%d+)%-(%d+)$')
  if not am or not bm then return false end
  if am ~= bm then return tonumber(am) < tonumber(bm) end
  return tonumber(as) < tonumber(bs)
end

-- an id above every id the server generated so far: its clock now (ids it makes later are not below)
local function nowId()
  local t = redis.call('TIME')
  return string.format('%.0f-0', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
end

-- The mark as read, and the stream's state: 'ok'; 'hist' (appended to before marks, no relayed
-- batch since); or 'lost' — no mark and no history (new, or its data lost), or below `floor`
-- (the highest id the caller's relayed appends got, '' for none): its last entries lost (Redis
-- restarted from an older snapshot, or a replica behind took over).
local function keepState(stream, keep, floor)
  local mark = redis.call('GET', keep)
  local state = 'ok'
  if mark == 'lost' or mark == 'hist' then state = mark
  elseif not mark then state = emptyHistory(stream) and 'lost' or 'hist' end
  if state ~= 'lost' and floor ~= '' then
    local at = mark
    if not mark or not string.find(mark, '-', 1, true) then at = lastGenerated(stream) end
    if at and before(at, floor) then state = 'lost' end
  end
  return mark, state
end
