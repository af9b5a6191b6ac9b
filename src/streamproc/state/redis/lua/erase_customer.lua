-- Erase one customer: profile, state, receipt records and timer entry, atomically, if the
-- state did not move.
--
-- KEYS: customer state, profile, timers zset, liability counter, receipt records.
-- ARGV[1]: the state version read ('' when there was none), ARGV[2]: the customer id,
-- ARGV[3]: the customer's outstanding points (active + pending, net of debt) to take off the
-- liability counter. Returns {1, profile deleted, state deleted, timer removed, records
-- deleted} or {0} when the version moved (read again and retry).
-- version_of(blob): lua/state_version.lua, prepended when the script is loaded.

local cur = redis.call('GET', KEYS[1])
if (cur and version_of(cur) or '') ~= ARGV[1] then return {0} end
local p = redis.call('DEL', KEYS[2])
local s = redis.call('DEL', KEYS[1])
local t = redis.call('ZREM', KEYS[3], ARGV[2])
local r = redis.call('DEL', KEYS[5])
if s == 1 and ARGV[3] ~= '0' then redis.call('DECRBY', KEYS[4], ARGV[3]) end
return {1, p, s, t, r}
