-- Apply one batch's state changes atomically, or nothing at all.
--
-- Every write is guarded by what the worker read when it computed the batch (optimistic
-- concurrency): a customer's version, a receipt record's SHA-1, a budget's spent amount, a
-- single-use coupon being free. If anything moved (another worker, a stale owner after a
-- rebalance, a timer), nothing is written and the worker recomputes the batch from fresh state.
-- Receipt ids are recorded in the same call, which is what makes redelivery idempotent.
--
-- KEYS: customer hashes (nc), receipt records (nr), stored outputs (no),
--       then the budget hash, coupon hash, exhausted set, timers zset, liability counter.
-- ARGV[1]: a JSON header (numbers as strings, so nothing passes through a double):
--   {nc, nr, no, cv: [[old, new]...], rs: [old sha1 or ''...], rttl, ottl,
--    b: [[campaign, expected, new]...], cp: [[code, receipt]...], ex: [campaign...],
--    t: [[customer, score or '']...], dl: liability delta}
-- ARGV[2..]: customer state blobs (nc), receipt record blobs (nr), output blobs (no).
local h = cjson.decode(ARGV[1])
local nc, nr, no = tonumber(h.nc), tonumber(h.nr), tonumber(h.no)
local base = nc + nr + no
local k_budget, k_coupons = KEYS[base + 1], KEYS[base + 2]
local k_exhausted, k_timers, k_liability = KEYS[base + 3], KEYS[base + 4], KEYS[base + 5]

-- 1. check everything
for i = 1, nc do
  local cur = redis.call('HGET', KEYS[i], 'v')
  if (cur or '0') ~= h.cv[i][1] then return {0, 'customer', KEYS[i]} end
end
for i = 1, nr do
  local cur = redis.call('GET', KEYS[nc + i])
  local sha = ''
  if cur then sha = redis.sha1hex(cur) end
  if sha ~= h.rs[i] then return {0, 'receipt', KEYS[nc + i]} end
end
for _, b in ipairs(h.b) do
  local cur = redis.call('HGET', k_budget, b[1])
  if (cur or '0') ~= b[2] then return {0, 'budget', b[1]} end
end
for _, c in ipairs(h.cp) do
  local cur = redis.call('HGET', k_coupons, c[1])
  if cur and cur ~= c[2] then return {0, 'coupon', c[1]} end
end

-- 2. write everything
for i = 1, nc do
  redis.call('HSET', KEYS[i], 'v', h.cv[i][2], 's', ARGV[1 + i])
end
local rttl, ottl = tonumber(h.rttl), tonumber(h.ottl)
for i = 1, nr do
  if rttl > 0 then
    redis.call('SET', KEYS[nc + i], ARGV[1 + nc + i], 'PX', rttl)
  else
    redis.call('SET', KEYS[nc + i], ARGV[1 + nc + i])
  end
end
for i = 1, no do
  if ottl > 0 then
    redis.call('SET', KEYS[nc + nr + i], ARGV[1 + nc + nr + i], 'PX', ottl)
  else
    redis.call('SET', KEYS[nc + nr + i], ARGV[1 + nc + nr + i])
  end
end
for _, b in ipairs(h.b) do redis.call('HSET', k_budget, b[1], b[3]) end
for _, c in ipairs(h.cp) do redis.call('HSET', k_coupons, c[1], c[2]) end
for _, e in ipairs(h.ex) do redis.call('SADD', k_exhausted, e) end
for _, t in ipairs(h.t) do
  if t[2] == '' then
    redis.call('ZREM', k_timers, t[1])
  else
    redis.call('ZADD', k_timers, t[2], t[1])
  end
end
if h.dl ~= '0' then redis.call('INCRBY', k_liability, h.dl) end
return {1}
