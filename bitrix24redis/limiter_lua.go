package bitrix24redis

import "github.com/redis/go-redis/v9"

// The limiter's state is one Redis hash per bucket key:
//
//	tat                 the theoretical arrival time (µs on the Redis server's clock) that
//	                    covers every reservation made so far (GCRA, as in the in-process
//	                    bucket of the root module)
//	<slot>:<prev>:<tat> one field per slot given back by a waiter that gave up while other
//	                    reservations followed it; the next caller takes it over at its own
//	                    time, which keeps the schedule conformant
//
// Both scripts read the clock with TIME on the server, so that processes on machines with
// different clocks share one timeline. Times are integers in microseconds (about 1.7e15
// today, exact in Lua's doubles); they are written with %.0f because tostring would use
// exponent notation.

// luaNow opens both scripts: now is the server's clock in µs.
const luaNow = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])`

// reserveScript takes the earliest usable slot. ARGV: interval µs, tolerance µs, the
// longest acceptable wait in µs (-1: any). It answers {1, wait, slot, prev, tat} when a slot
// was reserved and {0, wait} when the slot would come after the longest acceptable wait
// (nothing is reserved then).
var reserveScript = redis.NewScript(luaNow + `
local interval = tonumber(ARGV[1])
local tol = tonumber(ARGV[2])
local maxwait = tonumber(ARGV[3])
local h = redis.call('HGETALL', KEYS[1])
local tat = 0
local best, bestfield, bestprev, besttat
for i = 1, #h, 2 do
  local f = h[i]
  if f == 'tat' then
    tat = tonumber(h[i + 1])
  else
    local s, p, e = string.match(f, '^(%d+):(%d+):(%d+)$')
    if s == nil or tonumber(s) < now then
      redis.call('HDEL', KEYS[1], f)
    elseif best == nil or tonumber(s) < best then
      best, bestfield, bestprev, besttat = tonumber(s), f, tonumber(p), tonumber(e)
    end
  end
end
local function keep(until_)
  local ttl = math.floor((until_ - now) / 1000) + 1000
  redis.call('PEXPIRE', KEYS[1], ttl)
end
if best ~= nil then
  local wait = best - now
  if maxwait >= 0 and wait > maxwait then return {0, wait} end
  redis.call('HDEL', KEYS[1], bestfield)
  return {1, wait, best, bestprev, besttat}
end
local slot = tat - tol
if slot < now then slot = now end
local start = tat
if start < slot then start = slot end
local nt = start + interval
local wait = slot - now
if maxwait >= 0 and wait > maxwait then return {0, wait} end
redis.call('HSET', KEYS[1], 'tat', string.format('%.0f', nt))
keep(nt)
return {1, wait, slot, tat, nt}
`)

// releaseScript gives back a reservation of a waiter that gave up. ARGV: slot, prev, tat
// of the reservation. At the end of the chain it rewinds the chain exactly (and keeps
// rewinding over slots given back earlier); elsewhere it keeps the slot for the next
// caller. A slot already in the past is dropped: it can no longer be used on time.
var releaseScript = redis.NewScript(luaNow + `
local slot = tonumber(ARGV[1])
local prev = tonumber(ARGV[2])
local mine = tonumber(ARGV[3])
local cur = redis.call('HGET', KEYS[1], 'tat')
if not cur then return 0 end
if tonumber(cur) ~= mine then
  if slot < now then return 0 end
  redis.call('HSET', KEYS[1], ARGV[1] .. ':' .. ARGV[2] .. ':' .. ARGV[3], '1')
  return 1
end
local bytat = {}
local h = redis.call('HGETALL', KEYS[1])
for i = 1, #h, 2 do
  local f = h[i]
  if f ~= 'tat' then
    local s, p, e = string.match(f, '^(%d+):(%d+):(%d+)$')
    if e ~= nil then bytat[tonumber(e)] = {f, tonumber(p)} end
  end
end
local tat = prev
while bytat[tat] ~= nil do
  local entry = bytat[tat]
  redis.call('HDEL', KEYS[1], entry[1])
  bytat[tat] = nil
  tat = entry[2]
end
redis.call('HSET', KEYS[1], 'tat', string.format('%.0f', tat))
return 2
`)
