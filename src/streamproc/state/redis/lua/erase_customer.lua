-- Erase one customer: profile, state, receipt records and timer entry, atomically, if the
-- state did not move.
--
-- KEYS: customer state, profile, timers zset, liability counter, receipt records.
-- ARGV[1]: the state version read ('' when there was none), ARGV[2]: the customer id,
-- ARGV[3]: the customer's outstanding points (active + pending, net of debt) to take off the
-- liability counter. Returns {1, profile deleted, state deleted, timer removed, records
-- deleted} or {0} when the version moved (read again and retry).
-- The version inside a customer's state blob (docs/state-model.md, format 1: byte 1, u flags,
-- [s clock] when flags bit 0, u version), as a decimal string; '0' when there is no blob.
local function version_of(blob)
  if not blob then return '0' end
  local i = 2
  local function varint()
    local x, mul = 0, 1
    while true do
      local b = string.byte(blob, i)
      if not b then return nil end
      i = i + 1
      x = x + (b % 128) * mul
      if b < 128 then return x end
      mul = mul * 128
    end
  end
  local flags = varint()
  if flags and flags % 2 == 1 then varint() end
  local v = varint()
  if not v then return 'corrupt' end
  return string.format('%.0f', v)
end

local cur = redis.call('GET', KEYS[1])
if (cur and version_of(cur) or '') ~= ARGV[1] then return {0} end
local p = redis.call('DEL', KEYS[2])
local s = redis.call('DEL', KEYS[1])
local t = redis.call('ZREM', KEYS[3], ARGV[2])
local r = redis.call('DEL', KEYS[5])
if s == 1 and ARGV[3] ~= '0' then redis.call('DECRBY', KEYS[4], ARGV[3]) end
return {1, p, s, t, r}
