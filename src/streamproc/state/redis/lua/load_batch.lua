-- Read what one partition's share of a batch can touch, in one call on one slot.
--
-- KEYS: customer hashes (nc), profiles (nc), receipt records (nr), outputs (no: the answers
--       stored for the batch's messages, by origin).
-- ARGV: nc, nr, no.
-- Reply: {customers {v, s}..., profiles..., records..., outputs...}
local nc, nr, no = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
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
  out[n] = redis.call('GET', KEYS[2 * nc + nr + i])
end
return out
