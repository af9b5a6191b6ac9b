-- Shared by the scripts that check a customer's version (prepended by `scripts.lua_script`).
-- The version inside a customer's state blob (docs/state-model.md, format 1: byte 1, u flags,
-- [s clock] when flags bit 0, u version), as a decimal string; '0' when there is no blob
-- (nil, or false as MGET gives it to Lua).
local function varint_at(blob, i)
  local x, mul = 0, 1
  while true do
    local b = string.byte(blob, i)
    if not b then return nil, i end
    i = i + 1
    x = x + (b % 128) * mul
    if b < 128 then return x, i end
    mul = mul * 128
  end
end

local function version_of(blob)
  if not blob then return '0' end
  local flags, i = varint_at(blob, 2)
  if flags and flags % 2 == 1 then flags, i = varint_at(blob, i) end
  local v = varint_at(blob, i)
  if not v then return 'corrupt' end
  return string.format('%.0f', v)
end
