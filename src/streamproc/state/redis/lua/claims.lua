-- Claims on what all customers share (budgets, single-use codes), keyed by receipt id, in the
-- `{g}` slot. A claim is an atomic "spent + amount <= budget" that returns the same answer
-- when asked again for the same receipt, so there is no compare-and-retry and no conflict
-- between workers: a redelivered or recomputed receipt gets the answer it had.
--
-- KEYS: budget hash, coupon hash, exhausted set, then one claims hash per receipt.
-- ARGV[1]: JSON {ttl, c: [[key index, kind, name, amount, limit]...]}, in batch order:
--   kind 'b': the receipt spends `amount` of campaign `name`'s budget (`limit`) if it fits;
--   kind 'x': the receipt found campaign `name` does not fit: record it;
--   kind 'c': the receipt uses single-use code `name`.
-- Reply: one answer per claim: 'g' granted, 'r' refused, 'f' refused and the first refusal
-- of that campaign (its receipt emits `campaign_budget_exhausted`, once).
local h = cjson.decode(ARGV[1])
local k_budget, k_coupons, k_exhausted = KEYS[1], KEYS[2], KEYS[3]
local ttl = tonumber(h.ttl)
local out = {}

local function refuse(k, field, name, amount)
  local first = redis.call('SADD', k_exhausted, name)
  local ans = 'r'
  if first == 1 then ans = 'f' end
  redis.call('HSET', k, field, ans .. ':' .. amount)
  return ans
end

for i, c in ipairs(h.c) do
  local k, kind, name, amount = KEYS[3 + tonumber(c[1])], c[2], c[3], c[4]
  local ans
  if kind == 'c' then
    local owner = redis.call('HGET', k_coupons, name)
    if not owner then
      redis.call('HSET', k_coupons, name, c[6])
      ans = 'g'
    elseif owner == c[6] then
      ans = 'g'
    else
      ans = 'r'
    end
  else
    local field = 'b:' .. name
    local prev = redis.call('HGET', k, field)
    local pans, pamt = nil, nil
    if prev then pans, pamt = string.match(prev, '^(%a):(.*)$') end
    if pans == 'r' or pans == 'f' then
      ans = pans
    elseif pans == 'g' and (kind == 'x' or pamt == amount) then
      ans = 'g'
    else
      if pans == 'g' then redis.call('HINCRBY', k_budget, name, -tonumber(pamt)) end
      if kind == 'x' then
        ans = refuse(k, field, name, '')
      else
        local spent = tonumber(redis.call('HGET', k_budget, name) or '0')
        if spent + tonumber(amount) <= tonumber(c[5]) then
          redis.call('HINCRBY', k_budget, name, amount)
          redis.call('HSET', k, field, 'g:' .. amount)
          ans = 'g'
        else
          ans = refuse(k, field, name, amount)
        end
      end
    end
    if ttl > 0 then redis.call('PEXPIRE', k, ttl) end
  end
  out[i] = ans
end
return out
