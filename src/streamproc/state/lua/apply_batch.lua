-- Apply one batch's state changes atomically, or nothing at all.
--
-- Every write is guarded by what the worker read when it computed the batch (optimistic
-- concurrency): a customer's version, a receipt record's bytes, a budget's spent amount, a
-- single-use coupon being free. If anything moved (another worker, a stale owner after a
-- rebalance, a timer), nothing is written and the worker recomputes the batch from fresh state.
-- Receipt ids are recorded in the same call, which is what makes redelivery idempotent.
--
-- KEYS: customer hashes (nc), receipt records (nr), stored outputs (no),
--       then the budget hash, coupon hash, exhausted set, timers zset, liability counter.
-- ARGV: nc, nr, no, then
--       per customer:  expected_version, new_version, state_blob
--       per record:    expected_blob ('' = absent), new_blob, ttl_ms ('0' = none)
--       per output:    blob, ttl_ms
--       nb, per budget: campaign, expected_spent, new_spent
--       ncp, per coupon: code, receipt_id
--       ne, per exhausted campaign: campaign
--       nt, per timer: member, score ('' = remove)
--       liability delta (points)
local nc, nr, no = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local a = 4
local k_budget = KEYS[nc + nr + no + 1]
local k_coupons = KEYS[nc + nr + no + 2]
local k_exhausted = KEYS[nc + nr + no + 3]
local k_timers = KEYS[nc + nr + no + 4]
local k_liability = KEYS[nc + nr + no + 5]

-- 1. check everything
for i = 1, nc do
  local cur = redis.call('HGET', KEYS[i], 'v')
  if (cur or '0') ~= ARGV[a] then return {0, 'customer', KEYS[i]} end
  a = a + 3
end
for i = 1, nr do
  local cur = redis.call('GET', KEYS[nc + i])
  if (cur or '') ~= ARGV[a] then return {0, 'receipt', KEYS[nc + i]} end
  a = a + 3
end
a = a + 2 * no
local nb = tonumber(ARGV[a]); a = a + 1
local budgets_at = a
for i = 1, nb do
  local cur = redis.call('HGET', k_budget, ARGV[a])
  if (cur or '0') ~= ARGV[a + 1] then return {0, 'budget', ARGV[a]} end
  a = a + 3
end
local ncp = tonumber(ARGV[a]); a = a + 1
local coupons_at = a
for i = 1, ncp do
  local cur = redis.call('HGET', k_coupons, ARGV[a])
  if cur and cur ~= ARGV[a + 1] then return {0, 'coupon', ARGV[a]} end
  a = a + 2
end

-- 2. write everything
a = 4
for i = 1, nc do
  redis.call('HSET', KEYS[i], 'v', ARGV[a + 1], 's', ARGV[a + 2])
  a = a + 3
end
for i = 1, nr do
  local ttl = tonumber(ARGV[a + 2])
  if ttl > 0 then
    redis.call('SET', KEYS[nc + i], ARGV[a + 1], 'PX', ttl)
  else
    redis.call('SET', KEYS[nc + i], ARGV[a + 1])
  end
  a = a + 3
end
for i = 1, no do
  local ttl = tonumber(ARGV[a + 1])
  if ttl > 0 then
    redis.call('SET', KEYS[nc + nr + i], ARGV[a], 'PX', ttl)
  else
    redis.call('SET', KEYS[nc + nr + i], ARGV[a])
  end
  a = a + 2
end
a = budgets_at
for i = 1, nb do
  redis.call('HSET', k_budget, ARGV[a], ARGV[a + 2])
  a = a + 3
end
a = coupons_at
for i = 1, ncp do
  redis.call('HSET', k_coupons, ARGV[a], ARGV[a + 1])
  a = a + 2
end
local ne = tonumber(ARGV[a]); a = a + 1
for i = 1, ne do
  redis.call('SADD', k_exhausted, ARGV[a])
  a = a + 1
end
local nt = tonumber(ARGV[a]); a = a + 1
for i = 1, nt do
  if ARGV[a + 1] == '' then
    redis.call('ZREM', k_timers, ARGV[a])
  else
    redis.call('ZADD', k_timers, ARGV[a + 1], ARGV[a])
  end
  a = a + 2
end
local dl = tonumber(ARGV[a])
if dl ~= 0 then redis.call('INCRBY', k_liability, dl) end
return {1}
