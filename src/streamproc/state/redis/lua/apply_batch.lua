-- Apply one partition's share of a batch atomically, or nothing at all.
--
-- The fence first: the partition's owner key must hold the caller's token (group generation
-- and member id, set on assignment), so a stale owner that has not noticed a rebalance writes
-- nothing. Then every write is guarded by what the worker read (a customer's version, read
-- from the state blob the key holds; the SHA-1 of a customer's receipt records), which covers
-- callers without a token (a replay into Redis).
-- Receipt ids are recorded in the same call, which is what makes redelivery idempotent.
--
-- KEYS: fence, timers zset, timer outbox, liability, then customer states (nc), receipt
--       record sets (nr), stored outputs (no).
-- ARGV[1]: a JSON header (numbers as strings, so nothing passes through a double):
--   {tok: fence token or '', nc, nr, no, cv: [[old, new]...], rs: [old sha1 or ''...],
--    rttl, ottl, t: [[customer, score or '']...], dl: liability delta,
--    ob: [[event id, event]...] timer events to keep until Kafka has them}
-- ARGV[2..]: customer state blobs (nc), receipt record blobs (nr), output blobs (no).
-- version_of(blob): lua/state_version.lua, prepended when the script is loaded.

local h = cjson.decode(ARGV[1])
local k_fence, k_timers, k_outbox, k_liability = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local nc, nr, no = tonumber(h.nc), tonumber(h.nr), tonumber(h.no)
local base = 4

-- 1. check everything
if h.tok ~= '' then
  local owner = redis.call('GET', k_fence)
  if owner ~= h.tok then return {0, 'fence', tostring(owner)} end
end
for i = 1, nc do
  local cur = version_of(redis.call('GET', KEYS[base + i]))
  if cur ~= h.cv[i][1] then return {0, 'customer', KEYS[base + i]} end
end
for i = 1, nr do
  local cur = redis.call('GET', KEYS[base + nc + i])
  local sha = ''
  if cur then sha = redis.sha1hex(cur) end
  if sha ~= h.rs[i] then return {0, 'receipt', KEYS[base + nc + i]} end
end

-- 2. write everything
for i = 1, nc do
  redis.call('SET', KEYS[base + i], ARGV[1 + i])
end
local rttl, ottl = tonumber(h.rttl), tonumber(h.ottl)
for i = 1, nr do
  if rttl > 0 then
    redis.call('SET', KEYS[base + nc + i], ARGV[1 + nc + i], 'PX', rttl)
  else
    redis.call('SET', KEYS[base + nc + i], ARGV[1 + nc + i])
  end
end
for i = 1, no do
  if ottl > 0 then
    redis.call('SET', KEYS[base + nc + nr + i], ARGV[1 + nc + nr + i], 'PX', ottl)
  else
    redis.call('SET', KEYS[base + nc + nr + i], ARGV[1 + nc + nr + i])
  end
end
for _, t in ipairs(h.t) do
  if t[2] == '' then
    redis.call('ZREM', k_timers, t[1])
  else
    redis.call('ZADD', k_timers, t[2], t[1])
  end
end
for _, e in ipairs(h.ob) do redis.call('HSET', k_outbox, e[1], e[2]) end
if h.dl ~= '0' then redis.call('INCRBY', k_liability, h.dl) end
return {1}
