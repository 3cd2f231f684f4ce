// The lease: one process per key loads it, fleet-wide, and a Forget is never
// undone by a load that was in flight when it ran.
//
// The first design read the value (GET), and on a miss took the lease (SET NX
// PX) in a second command. Between the two, another process could load the
// key, write its value and release its lease; the first then won a free
// lease and called fn again (4 processes x 20 goroutines x 40 cold keys with
// an instant fn: 49 calls instead of 40). Its write was unconditional, too: a
// load in flight when Forget deleted the key wrote its value back, and every
// process read the forgotten value again, for the tier's TTL.
//
// Now both steps are Lua scripts, each atomic in Redis:
//   - acquire looks at the value and the lease together: it returns the value
//     if there is one, or takes the lease if it is free, or says that it is
//     held. A key of another Redis type under the value is deleted (it is not
//     the tier's), and a lease without expiry or of another type is not the
//     tier's either (the tier always sets one) and is taken over.
//   - finish writes the value (or deletes a value the tier refused) and
//     releases the lease only while the lease still holds this load's token.
//
// The lease is thus a fencing token: Forget deletes the value and the lease
// in one DEL, so a load whose lease was taken before the Forget reached Redis
// finds its token gone and writes nothing, in whichever process it runs; so
// does a load whose lease expired (fn outlived WithLease), since another
// process may have taken over. Clear deletes leases too, so loads whose lease
// it deleted write nothing. The price: a load that outlives its lease is
// never shared (raise WithLease above fn's longest duration), and a script
// costs a little more than a plain command in Redis (EVALSHA, the script
// cached by SHA1).
package memoredis

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"
)

// acquireScript: KEYS value, lease; ARGV token, lease ms, max value size,
// skip ("1": the value there is bad, do not return it). It replies
// {state, refused, value}: state 0 the lease is now the caller's, 1 the value
// follows, 2 another holds the lease; refused 1 when the value was over the
// maximum size (and ignored).
var acquireScript = redis.NewScript(`
local refused = 0
local vt = redis.call("type", KEYS[1])["ok"]
if vt == "string" then
  if redis.call("strlen", KEYS[1]) > tonumber(ARGV[3]) then
    refused = 1
  elseif ARGV[4] ~= "1" then
    return {1, 0, redis.call("get", KEYS[1])}
  end
elseif vt ~= "none" then
  redis.call("del", KEYS[1])
end
if redis.call("type", KEYS[2])["ok"] == "string" and redis.call("pttl", KEYS[2]) >= 0 then
  return {2, refused}
end
redis.call("set", KEYS[2], ARGV[1], "PX", ARGV[2])
return {0, refused}
`)

// finishScript: KEYS value, lease; ARGV token, mode ("set", "del" or
// "none"), value, TTL ms (0: none). It acts only while the lease holds the
// token, and replies 1 if it did.
var finishScript = redis.NewScript(`
if redis.call("type", KEYS[2])["ok"] ~= "string" or redis.call("get", KEYS[2]) ~= ARGV[1] then
  return 0
end
if ARGV[2] == "set" then
  if ARGV[4] ~= "0" then
    redis.call("set", KEYS[1], ARGV[3], "PX", ARGV[4])
  else
    redis.call("set", KEYS[1], ARGV[3])
  end
elseif ARGV[2] == "del" then
  redis.call("del", KEYS[1])
end
redis.call("del", KEYS[2])
return 1
`)

type acquired uint8

const (
	leased acquired = iota // the caller holds the lease now
	found                  // the value is there
	held                   // another load holds the lease
)

type acquireReply struct {
	state   acquired
	refused bool
	data    []byte
}

// acquire runs acquireScript (see the file's opening).
func (t *Tier[V]) acquire(ctx context.Context, vk, lk, token string, skip bool) (acquireReply, error) {
	return do(t, ctx, vk, func(c context.Context) (acquireReply, error) {
		skipArg := "0"
		if skip {
			skipArg = "1"
		}
		res, err := acquireScript.Run(c, t.client, []string{vk, lk},
			token, t.o.lease.Milliseconds(), t.o.maxValue, skipArg).Slice()
		if err != nil {
			return acquireReply{}, err
		}
		return parseAcquire(res)
	})
}

func parseAcquire(res []any) (acquireReply, error) {
	var r acquireReply
	if len(res) < 2 {
		return r, fmt.Errorf("memoredis: acquire replied %v", res)
	}
	state, _ := res[0].(int64)
	refused, _ := res[1].(int64)
	r.state, r.refused = acquired(state), refused == 1
	if r.state == found {
		if len(res) < 3 {
			return r, errors.New("memoredis: acquire replied a value without data")
		}
		s, _ := res[2].(string)
		r.data = []byte(s)
	}
	return r, nil
}

// releaseScript: KEYS lease; ARGV token. It deletes the lease while it
// holds the token.
var releaseScript = redis.NewScript(`
if redis.call("type", KEYS[1])["ok"] == "string" and redis.call("get", KEYS[1]) == ARGV[1] then
  return redis.call("del", KEYS[1])
end
return 0
`)

// finish runs finishScript: mode "set" writes data with the tier's TTL, "del"
// deletes the value, "none" only releases the lease. It runs even if every
// caller has given up (a completed value is worth keeping), and a failure is
// counted and otherwise ignored: Redis is a cache of fn, not its source.
//
// On a cluster slot in migration, finishScript fails with TRYAGAIN when one
// of its two keys has moved and the other has not (or neither exists on the
// node that owns the slot), and keeps failing until the migration ends.
// finish then only releases the lease, with a script of the lease alone,
// which Redis runs wherever the lease is: the value is not written, but the
// other processes need not wait out the lease either.
func (t *Tier[V]) finish(ctx context.Context, vk, lk, token, mode string, data []byte) {
	ctx = context.WithoutCancel(ctx)
	_, err := do(t, ctx, vk, func(c context.Context) (int64, error) {
		return finishScript.Run(c, t.client, []string{vk, lk},
			token, mode, data, strconv.FormatInt(t.o.ttl.Milliseconds(), 10)).Int64()
	})
	if isMigrating(err) {
		_, _ = do(t, ctx, lk, func(c context.Context) (int64, error) {
			return releaseScript.Run(c, t.client, []string{lk}, token).Int64()
		})
	}
}
