-- Publishes a scan's messages, fenced by its entry in the planners' group: only the replica
-- whose consumer holds that entry appends. A replica that took the scan over (XAUTOCLAIM) and
-- one that only stalled can never both write, and the claim also keeps the entry fresh (its
-- idle time is what tells other replicas the planner is gone).
--
-- KEYS: 1 plans stream, 2 meta, 3 log, 4 stop, 5 outcomes, 6 settings, 7 plan
-- ARGV: 1 group, 2 consumer, 3 scan id, 4 running TTL, 5 retention, 6 end field ('' while the
--       scan runs), 7 end value, 8 what the stop key says at the end, 9.. seq and JSON pairs
-- Returns the newest seq in the log, or -1 if another replica plans the scan.
local entry = redis.call('HGET', KEYS[2], 'planner')
local owner = false
if entry then
  local ok, pending = pcall(redis.call, 'XPENDING', KEYS[1], ARGV[1], entry, entry, 1)
  if ok and pending[1] then
    owner = pending[1][2]
  end
end
if not owner then
  if redis.call('HGET', KEYS[2], 'status') == 'finished' then
    return -1
  end
  -- The first publication, or a Redis restart lost the entry: the scan is this replica's.
  pcall(redis.call, 'XGROUP', 'CREATE', KEYS[1], ARGV[1], '$', 'MKSTREAM')
  entry = redis.call('XADD', KEYS[1], '*', 'scan', ARGV[3])
  redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, entry, 'FORCE', 'JUSTID')
  redis.call('HSET', KEYS[2], 'planner', entry)
elseif owner ~= ARGV[2] then
  return -1
else
  redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, entry, 'JUSTID')
end

-- The entry id is the seq: followers resume after `{seq}-0`. Only the next seq is appended,
-- so a repeat is skipped and a gap (Redis lost the newest messages) stops the copy, which the
-- caller resends from the returned seq.
local newest = redis.call('XREVRANGE', KEYS[3], '+', '-', 'COUNT', 1)
local published = 0
if newest[1] then
  published = tonumber(string.match(newest[1][1], '^%d+'))
end
local last_sent = 0
for i = 9, #ARGV, 2 do
  local seq = tonumber(ARGV[i])
  last_sent = seq
  if seq == published + 1 then
    redis.call('XADD', KEYS[3], seq .. '-0', 'json', ARGV[i + 1])
    published = seq
  end
end

if ARGV[6] ~= '' and published == last_sent then
  -- The final message is in, with the report beside it: the scan is over for everyone.
  redis.call('HSET', KEYS[2], ARGV[6], ARGV[7], 'status', 'finished')
  redis.call('SET', KEYS[4], ARGV[8], 'EX', ARGV[5])
  redis.call('DEL', KEYS[5], KEYS[6], KEYS[7])
  redis.call('XACK', KEYS[1], ARGV[1], entry)
  redis.call('XDEL', KEYS[1], entry)
  redis.call('EXPIRE', KEYS[2], ARGV[5])
  redis.call('EXPIRE', KEYS[3], ARGV[5])
else
  redis.call('EXPIRE', KEYS[2], ARGV[4])
  redis.call('EXPIRE', KEYS[3], ARGV[4])
end
return published
