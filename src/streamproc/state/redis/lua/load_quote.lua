-- Read what one receipt's quote can touch, in one call (standalone Redis; on Redis Cluster
-- only with the partition's keys, nb = nk = 0: the shared keys live in another slot).
--
-- KEYS: the customer's state and profile (nc = 1, or 0 when anonymous), the receipt record
--       sets (nr: the customer's, or an anonymous receipt's own and its original's), then the
--       budgets hash (when nb > 0) and the single-use codes hash (when nk > 0).
-- ARGV: nc, nr, nb, nk, then nb campaign ids and nk codes.
-- Reply: {[state, profile], records..., [budgets spent...], [code owners...]}
local nc, nr = tonumber(ARGV[1]), tonumber(ARGV[2])
local nb, nk = tonumber(ARGV[3]), tonumber(ARGV[4])
local out = {}
local n, k = 0, 0
if nc == 1 then
  out[1] = redis.call('GET', KEYS[1])
  out[2] = redis.call('GET', KEYS[2])
  n, k = 2, 2
end
for i = 1, nr do
  n = n + 1
  out[n] = redis.call('GET', KEYS[k + i])
end
k = k + nr
if nb > 0 then
  k = k + 1
  n = n + 1
  out[n] = redis.call('HMGET', KEYS[k], unpack(ARGV, 5, 4 + nb))
end
if nk > 0 then
  k = k + 1
  n = n + 1
  out[n] = redis.call('HMGET', KEYS[k], unpack(ARGV, 5 + nb, 4 + nb + nk))
end
return out
