-- Takes quota from, or gives it back to, the fleet's shared counters of one tenant, in one atomic
-- step on the store's own clock (TIME), so that every gateway task sees the same buckets at the
-- same time. The Rust side (quota/redis.rs) keeps what a task took in its allowance
-- (quota/allowance.rs) and mirrors the bucket math of quota/memory.rs.
--
-- KEYS: the counters, all with the tenant's {hash tag}, so one slot holds them.
-- ARGV[1]: "take" or "give"
-- ARGV[2]: the calling task's id, which owns the concurrency places it takes
-- ARGV[3]: how long those places stay taken unless renewed, in ms
-- ARGV[4i..4i+3] for KEYS[i]: its kind ("r" requests, "t" tokens, "c" concurrent requests), its
--   limit, and two amounts:
--   take: the least to take, and the most (the rest is taken only from the half of the limit
--     that is still free, so that tasks stop taking ahead when the tenant nears its quota);
--   give: for a bucket, the units to give back (negative: a charge beyond what was taken, which
--     may leave the bucket in debt), and 0; for places, how many to free, and how many the task
--     holds afterwards (restored when its lease had ended, say after a partition).
--
-- A bucket is a hash {level, at}: its level (negative in debt) at time `at` (microseconds). It
-- refills continuously at limit per minute up to limit; a missing bucket is full, so each expires
-- once it would be full again. Places are a hash of task id -> "count/until_ms", so the places of
-- a task that died free themselves when its lease ends.
--
-- take returns {1, taken for each key} when every key has at least its least (and takes), else
-- {0} followed by, for each key that had not, its index in KEYS and its wait in ms (-1: never, the
-- least is larger than the limit; -2: until a place frees), and takes nothing.
-- give returns {1}.

local MINUTE_US = 60000000
local DAY_MS = 86400000
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local now_ms = math.floor(now / 1000)
local op, owner, lease_ms = ARGV[1], ARGV[2], tonumber(ARGV[3])

local function clamp(value, low, high)
  return math.max(low, math.min(high, value))
end

local function level(key, limit)
  local state = redis.call('HMGET', key, 'level', 'at')
  local stored, at = tonumber(state[1]), tonumber(state[2])
  if stored == nil or at == nil then
    return limit
  end
  -- A failover may move TIME back a little; never drain the bucket because of it.
  local elapsed = math.max(0, now - at)
  return math.min(limit, stored + elapsed * limit / MINUTE_US)
end

local function store(key, limit, value)
  if value >= limit then
    redis.call('DEL', key)
    return
  end
  redis.call('HSET', key, 'level', string.format('%.17g', value), 'at', string.format('%.17g', now))
  -- A debt that would take more than a day to repay is forgiven then.
  local full_in_ms = math.ceil((limit - value) * MINUTE_US / limit / 1000)
  redis.call('PEXPIRE', key, math.min(full_in_ms + 1000, DAY_MS))
end

-- The places held, by every task whose lease has not ended, and by this one; ended leases go.
local function places(key)
  local entries = redis.call('HGETALL', key)
  local total, mine = 0, nil
  for i = 1, #entries, 2 do
    local count, untl = string.match(entries[i + 1], '^(%d+)/(%d+)$')
    if count == nil or tonumber(untl) <= now_ms then
      redis.call('HDEL', key, entries[i])
    else
      total = total + tonumber(count)
      if entries[i] == owner then
        mine = tonumber(count)
      end
    end
  end
  return total, mine
end

local function hold(key, count)
  if count <= 0 then
    redis.call('HDEL', key, owner)
    return
  end
  redis.call('HSET', key, owner, string.format('%d/%d', count, now_ms + lease_ms))
  -- Every task's lease is as long, so the newest ends last.
  redis.call('PEXPIRE', key, lease_ms)
end

local function args(i)
  local base = 4 * i
  return ARGV[base], tonumber(ARGV[base + 1]), tonumber(ARGV[base + 2]), tonumber(ARGV[base + 3])
end

if op == 'take' then
  local taken, refused, state = {1}, {0}, {}
  for i = 1, #KEYS do
    local kind, limit, least, most = args(i)
    if kind == 'c' then
      local total, mine = places(KEYS[i])
      local free = limit - total
      state[i] = mine or 0
      if free < least then
        table.insert(refused, i)
        table.insert(refused, -2)
      else
        taken[i + 1] = least + clamp(free - least - math.ceil(limit / 2), 0, most - least)
      end
    else
      local have = level(KEYS[i], limit)
      state[i] = have
      if least > limit then
        table.insert(refused, i)
        table.insert(refused, -1)
      elseif have < least then
        table.insert(refused, i)
        table.insert(refused, math.ceil((least - have) * MINUTE_US / limit / 1000))
      else
        taken[i + 1] = least + math.floor(clamp(have - least - limit / 2, 0, most - least))
      end
    end
  end
  if #refused > 1 then
    return refused
  end
  for i = 1, #KEYS do
    local kind, limit = args(i)
    if kind == 'c' then
      hold(KEYS[i], state[i] + taken[i + 1])
    elseif taken[i + 1] > 0 then
      store(KEYS[i], limit, state[i] - taken[i + 1])
    end
  end
  return taken
end

if op == 'give' then
  for i = 1, #KEYS do
    local kind, limit, amount, held = args(i)
    if kind == 'c' then
      local _, mine = places(KEYS[i])
      if mine == nil then
        hold(KEYS[i], held)
      else
        hold(KEYS[i], mine - amount)
      end
    elseif amount ~= 0 then
      store(KEYS[i], limit, math.min(limit, level(KEYS[i], limit) + amount))
    end
  end
  return {1}
end

return redis.error_reply('unknown quota operation ' .. tostring(op))
