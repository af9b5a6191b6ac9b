-- Read everything a batch can touch in one call (one round trip, one reply parsed by hiredis).
--
-- KEYS: customer hashes (nc), profiles (nc), receipt records (nr), outputs (no: the batch's own
--       receipts, the first `no` of the records), then the budget hash, coupon hash, exhausted set.
-- ARGV: nc, nr, no, nb, budgeted campaigns (nb), single-use codes on the batch's receipts.
-- Reply: {customers {v, s}..., profiles..., records..., outputs..., budgets, coupons, exhausted}
local nc, nr, no, nb = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local out = {}
local n = 0
for i = 1, nc do
  n = n + 1
  out[n] = redis.call('HMGET', KEYS[i], 'v', 's')
end
for i = 1, nc do
  n = n + 1
  out[n] = redis.call('GET', KEYS[nc + i])
end
local records = {}
for i = 1, nr do
  n = n + 1
  records[i] = redis.call('GET', KEYS[2 * nc + i])
  out[n] = records[i]
end
for i = 1, no do
  n = n + 1
  if records[i] then out[n] = redis.call('GET', KEYS[2 * nc + nr + i]) else out[n] = false end
end
local base = 2 * nc + nr + no
local campaigns = {}
for i = 1, nb do campaigns[i] = ARGV[4 + i] end
n = n + 1
if nb > 0 then out[n] = redis.call('HMGET', KEYS[base + 1], unpack(campaigns)) else out[n] = {} end
local codes = {}
for i = 5 + nb, #ARGV do codes[#codes + 1] = ARGV[i] end
n = n + 1
if #codes > 0 then out[n] = redis.call('HMGET', KEYS[base + 2], unpack(codes)) else out[n] = {} end
n = n + 1
out[n] = redis.call('SMEMBERS', KEYS[base + 3])
return out
