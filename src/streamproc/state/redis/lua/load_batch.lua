-- Read what one partition's share of a batch can touch, in one call on one slot.
--
-- KEYS: customer states (nc: those the worker does not hold in memory), profiles (np: every
--       customer of the batch), receipt records (nr), outputs (no: the answers stored for the
--       batch's messages, by origin).
-- ARGV: nc, np, nr, no.
-- Reply: {customer states..., profiles..., record sets..., outputs...}
local nc, np = tonumber(ARGV[1]), tonumber(ARGV[2])
local nr, no = tonumber(ARGV[3]), tonumber(ARGV[4])
local out = {}
local n = 0
for i = 1, nc do
  n = n + 1
  out[n] = redis.call('GET', KEYS[i])
end
for i = 1, np do
  n = n + 1
  out[n] = redis.call('GET', KEYS[nc + i])
end
for i = 1, nr + no do
  n = n + 1
  out[n] = redis.call('GET', KEYS[nc + np + i])
end
return out
