-- Apply one partition's share of a batch atomically, or nothing at all.
--
-- The fence first: the partition's owner key must hold the caller's token (group generation
-- and member id, set on assignment), so a stale owner that has not noticed a rebalance writes
-- nothing. Then every write is guarded by what the worker read (a customer's version, read
-- from the state blob the key holds; the SHA-1 of an anonymous receipt's record), which covers
-- callers without a token (a replay into Redis). A customer's receipt records are guarded by
-- the customer's version: they are only ever written together with its state (version + 1)
-- and deleted with it (erase), so reading the whole set back to hash it would add nothing.
-- Receipt ids are recorded in the same call, which is what makes redelivery idempotent.
-- Redis's own work a command is small next to a command's round trip through Lua (arguments
-- turned into Redis strings, the reply into Lua values), so keys are read and written a
-- command for many keys (MGET, MSET, ZADD, ZREM) where no per-key option (a TTL) differs.
--
-- KEYS: fence, timers zset, timer outbox, liability, then customer states (nc), receipt
--       record sets (nr), the hashes of the messages' answers (#no).
-- ARGV[1]: a JSON header (numbers as strings, so nothing passes through a double):
--   {tok: fence token or '', nc, nr, no: [answers in each hash...], cv: [old version...],
--    rs: [old sha1 or '' (anonymous), or '-' (a customer's: its version guards it)...],
--    rttl, ottl, t: [[customer, score or '']...], dl: liability delta,
--    ob: [[event id, event]...] timer events to keep until Kafka has them}
-- ARGV[2..]: customer state blobs (nc), receipt record blobs (nr), then for each answers' hash
--   its field (the message's offset) and answer, no[i] times.
-- version_of(blob): lua/state_version.lua, prepended when the script is loaded.

local h = cjson.decode(ARGV[1])
local k_fence, k_timers, k_outbox, k_liability = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local nc, nr = tonumber(h.nc), tonumber(h.nr)
local base = 4
local CHUNK = 1000  -- keys a command names at most (Lua's unpack has a stack limit)

-- the values of KEYS[first .. first + n - 1]: MGET, a chunk a call
local function mget(first, n)
  local vals = {}
  for i = 0, n - 1, CHUNK do
    local got = redis.call('MGET', unpack(KEYS, first + i, first + math.min(i + CHUNK, n) - 1))
    for j = 1, #got do vals[i + j] = got[j] end
  end
  return vals
end

-- `cmd key? args...` over a flat list of arguments, `per` of them an item, CHUNK items a call
local function many(cmd, key, args, per)
  local step = CHUNK * per
  for i = 1, #args, step do
    local last = math.min(i + step - 1, #args)
    if key then
      redis.call(cmd, key, unpack(args, i, last))
    else
      redis.call(cmd, unpack(args, i, last))
    end
  end
end

-- 1. check everything
if h.tok ~= '' then
  local owner = redis.call('GET', k_fence)
  if owner ~= h.tok then return {0, 'fence', tostring(owner)} end
end
if nc > 0 then
  local cur = mget(base + 1, nc)
  for i = 1, nc do
    if version_of(cur[i]) ~= h.cv[i] then return {0, 'customer', KEYS[base + i]} end
  end
end
local anon = {}  -- the record sets guarded by their own bytes (anonymous receipts')
for i = 1, nr do
  if h.rs[i] ~= '-' then anon[#anon + 1] = i end
end
for c = 1, #anon, CHUNK do
  local idx, ks = {}, {}
  for j = c, math.min(c + CHUNK - 1, #anon) do
    idx[#idx + 1] = anon[j]
    ks[#ks + 1] = KEYS[base + nc + anon[j]]
  end
  local cur = redis.call('MGET', unpack(ks))
  for j = 1, #ks do
    local sha = ''
    if cur[j] then sha = redis.sha1hex(cur[j]) end
    if sha ~= h.rs[idx[j]] then return {0, 'receipt', ks[j]} end
  end
end

-- 2. write everything
if nc > 0 then
  local kv = {}
  for i = 1, nc do
    kv[2 * i - 1] = KEYS[base + i]
    kv[2 * i] = ARGV[1 + i]
  end
  many('MSET', nil, kv, 2)
end
local rttl, ottl = tonumber(h.rttl), tonumber(h.ottl)
for i = 1, nr do
  if rttl > 0 then
    redis.call('SET', KEYS[base + nc + i], ARGV[1 + nc + i], 'PX', rttl)
  else
    redis.call('SET', KEYS[base + nc + i], ARGV[1 + nc + i])
  end
end
local at = 1 + nc + nr
for i = 1, #h.no do
  local key, n = KEYS[base + nc + nr + i], 2 * tonumber(h.no[i])
  local kv = {}
  for j = 1, n do kv[j] = ARGV[at + j] end
  many('HSET', key, kv, 2)
  at = at + n
  if ottl > 0 then redis.call('PEXPIRE', key, ottl) end
end
local add, rem = {}, {}
for _, t in ipairs(h.t) do
  if t[2] == '' then
    rem[#rem + 1] = t[1]
  else
    add[#add + 1] = t[2]
    add[#add + 1] = t[1]
  end
end
many('ZADD', k_timers, add, 2)
many('ZREM', k_timers, rem, 1)
local ob = {}
for _, e in ipairs(h.ob) do
  ob[#ob + 1] = e[1]
  ob[#ob + 1] = e[2]
end
many('HSET', k_outbox, ob, 2)
if h.dl ~= '0' then redis.call('INCRBY', k_liability, h.dl) end
return {1}
