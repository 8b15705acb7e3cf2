-- The quota limits of one request, checked and applied in one atomic step on the store, on the
-- store's own clock (TIME), so that every gateway task sees the same buckets at the same time.
-- The Rust side (quota/redis.rs) mirrors the bucket math of quota/memory.rs.
--
-- KEYS: one per limit of the request, all with the tenant's {hash tag}, so one slot holds them.
-- ARGV[1]: "acquire" or "settle"
-- ARGV[2]: the lease id of the request's concurrency places
-- ARGV[3]: the tokens the request reserved
-- ARGV[4]: acquire: how long its places are held at most, in ms; settle: the tokens it used
-- ARGV[3 + 2i], ARGV[4 + 2i]: the kind of KEYS[i] ("r" requests, "t" tokens, "c" concurrent
--   requests) and its limit
--
-- A bucket is a hash {level, at}: its level (may be negative after a charge: debt) at time `at`
-- (microseconds). It refills continuously at limit per minute up to limit; a missing bucket is
-- full, so each expires once it would be full again. Places are a sorted set of lease ids scored
-- by when the lease ends (ms), so the places of a task that died free themselves.
--
-- acquire returns {1} when every limit allows the request (and takes from each), else {0} followed
-- by, for each limit that refused, its index in KEYS and its wait in ms (-1: never, the request is
-- larger than the limit; -2: until a place frees), and takes nothing.
-- settle refunds or charges the difference between used and reserved tokens, frees the places,
-- and returns {1}.

local MINUTE_US = 60000000
local DAY_MS = 86400000
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local now_ms = math.floor(now / 1000)

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

local op, lease, reserved = ARGV[1], ARGV[2], tonumber(ARGV[3])

if op == 'acquire' then
  local hold_ms = tonumber(ARGV[4])
  local levels, refused = {}, {0}
  for i = 1, #KEYS do
    local kind, limit = ARGV[3 + 2 * i], tonumber(ARGV[4 + 2 * i])
    if kind == 'c' then
      redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now_ms)
      if redis.call('ZCARD', KEYS[i]) >= limit then
        table.insert(refused, i)
        table.insert(refused, -2)
      end
    else
      local need = 1
      if kind == 't' then
        need = reserved
      end
      local have = level(KEYS[i], limit)
      levels[i] = have
      if need > limit then
        table.insert(refused, i)
        table.insert(refused, -1)
      elseif have < need then
        table.insert(refused, i)
        table.insert(refused, math.ceil((need - have) * MINUTE_US / limit / 1000))
      end
    end
  end
  if #refused > 1 then
    return refused
  end
  for i = 1, #KEYS do
    local kind, limit = ARGV[3 + 2 * i], tonumber(ARGV[4 + 2 * i])
    if kind == 'c' then
      redis.call('ZADD', KEYS[i], now_ms + hold_ms, lease)
      if redis.call('PTTL', KEYS[i]) < hold_ms then
        redis.call('PEXPIRE', KEYS[i], hold_ms)
      end
    elseif kind == 'r' then
      store(KEYS[i], limit, levels[i] - 1)
    else
      store(KEYS[i], limit, levels[i] - reserved)
    end
  end
  return {1}
end

if op == 'settle' then
  local used = tonumber(ARGV[4])
  for i = 1, #KEYS do
    local kind, limit = ARGV[3 + 2 * i], tonumber(ARGV[4 + 2 * i])
    if kind == 'c' then
      redis.call('ZREM', KEYS[i], lease)
    elseif kind == 't' and used ~= reserved then
      store(KEYS[i], limit, math.min(limit, level(KEYS[i], limit) + reserved - used))
    end
  end
  return {1}
end

return redis.error_reply('unknown quota operation ' .. tostring(op))
