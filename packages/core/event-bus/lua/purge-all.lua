-- purge-all: deletes every dead letter of one stream and says how many there were, in one step,
-- so a letter written meanwhile is either counted and deleted or left for the next look.
-- KEYS[1] dead-letter stream
-- Returns how many were deleted.
local count = redis.call('XLEN', KEYS[1])
if count > 0 then redis.call('DEL', KEYS[1]) end
return count
