package memoredis

// Invalidation across processes: Forget, Set and Clear in one process drop
// the key (or everything) from the local store of every other process whose
// memo uses the same tier namespace.
//
// # The problem
//
// Each process keeps the values it read in its memo's local store, and a
// local hit never asks Redis. Deleting a key from Redis therefore does not
// stop the other processes from serving the value they already hold, for as
// long as their local TTL; and without a message from the process that
// deleted it, they have no way to know.
//
// # Why not client-side caching
//
// Redis 6 can track the keys a connection read and push invalidations for
// them (CLIENT TRACKING, RESP3 or a redirect to a pub/sub connection). It
// fits a client that caches what it reads on the connection it reads with;
// it fits memo badly. go-redis v9 does not implement it (rueidis does), so
// the tier would manage the tracking connection and redirect itself. The
// tracking is per connection, while go-redis spreads commands over a pool;
// only the BCAST mode with a prefix avoids tracking every connection, and
// BCAST reports every write under the prefix, including the SET that each
// load makes and the expiries and evictions Redis decides on its own, which
// would drop local entries that are still right and tie the local TTL to
// Redis's. And a Clear, which UNLINKs key by key, would become one message
// per key.
//
// # The design: pub/sub on the tier's own channel
//
// Every Tier publishes on, and subscribes to, one channel named after its
// namespace, prefix:fingerprint:invalidate. The fingerprint of the value
// type is part of it, so two memos that share a prefix but hold different
// value types never see each other's messages; two that share the prefix and
// the value type share their Redis keys too, so a key one of them forgets is
// gone for the other as well, and dropping it locally is right. A message is
// one byte for the operation ('f' for Forget and Set, 'c' for Clear), the
// sending Tier's 16-character id (a Tier ignores its own messages: its memo
// has already applied them, and a Set would otherwise drop its own new
// value), then the key in the canonical form the tier stores it under.
// Forget publishes after Redis has deleted the key, Set in the same pipeline
// as its SET, Clear after its last UNLINK, so a process that receives the
// message and misses reads the new state.
//
// Receiving a message calls the memo's handlers (memo.Invalidations): the
// key is dropped from the local store and a load of it in flight is marked
// stale, exactly as a local Forget does. The hit path is untouched.
//
// Pub/sub is fire and forget: a subscriber that is disconnected misses the
// messages published meanwhile, and cannot know which. So whenever the
// subscription is (re)established, the memo's whole local store is dropped
// (counted in TierStats.Resyncs) before messages flow again. While the
// subscription is down (TierStats.Listening is false) the memo serves its
// local values as it would without invalidation, for at most its local TTL.
// A connection that goes silent is probed with a PING every healthEvery and
// replaced if the PING is not answered in time, so a half-open connection is
// found too.
//
// # On Redis Cluster: sharded pub/sub
//
// On a *redis.ClusterClient the tier publishes with SPUBLISH and subscribes
// with SSUBSCRIBE (Redis 7.0 or later, and every Valkey); on any other
// client, PUBLISH and SUBSCRIBE. Both reach every process of the fleet,
// whichever nodes their clients were given: go-redis connects a
// ClusterClient's subscription, plain or sharded, to the master of the
// channel's slot, and a process receives a message wherever it was sent
// from. What decides:
//
//   - The cluster bus. A PUBLISH is forwarded to every node of the cluster,
//     each copy carrying a header of about 2 KiB (the sender's slot bitmap),
//     so every Forget and Set costs every node, and the cost grows with the
//     cluster that users grow when one Redis is not enough. An SPUBLISH stays
//     in the channel's shard (its master, and its replicas by replication).
//   - A dead master. The subscriptions sit on the channel's master in both
//     modes, so when it dies invalidations stop either way, until it (or its
//     replica, after failover) answers again: the subscribers resync then.
//     PUBLISH would fail more often, not less: go-redis sends a command
//     without a key to the masters in turn, and tries another only after a
//     failure and a backoff; with one master of 3 killed, whichever held the
//     channel, 12 PUBLISHes of 30 missed the tier's 100ms call timeout.
//   - The price of SSUBSCRIBE: when the channel's slot moves (resharding),
//     Redis unsubscribes its subscribers (sunsubscribe); the tier then
//     subscribes again at the slot's new master, refreshing the client's slot
//     map when the old one answers MOVED, and resyncs, since messages may
//     have been lost in between. Global channels do not move, but a slot
//     moves rarely, and a resync costs one local reload per key.
//   - Compatibility: a Redis Cluster older than 7.0 refuses SSUBSCRIBE and
//     SPUBLISH; the tier then works as without invalidation (Listening stays
//     false, each publish counts an error). Processes running a version of
//     the tier that published with PUBLISH on a cluster do not hear this
//     one, nor it them.
//
// # The price
//
// One pub/sub connection per Tier, one goroutine, one PUBLISH (SPUBLISH on a
// cluster) per Forget, Set and Clear (Redis sends it to every subscriber of
// the channel), and for a Memoize memo a map from tier keys back to its keys
// (see the core's tier.go). The bound it gives: after Forget returns in one process, another
// serves the old value for at most the delivery time of one message when
// Redis is healthy (see TestInvalidationDeliveryTime), and for at most its
// local TTL when its subscription is down.

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/go-memo/memo"
)

// WithoutInvalidation turns invalidation across processes off for this
// Tier: it neither publishes its Forgets, Sets and Clears nor subscribes to
// those of others, and its memo's local values can be as old as its local
// TTL. Use it for a memo that never calls Forget, Set or Clear, to save the
// pub/sub connection.
func WithoutInvalidation() Option { return func(o *options) { o.noInvalidation = true } }

const (
	opForget = 'f'
	opClear  = 'c'

	idLen = 16 // a Tier's id in messages: 8 random bytes in hex

	healthEvery  = time.Second            // a silent subscription is probed this often
	reconnectMin = 10 * time.Millisecond  // first wait after a failed (re)subscription
	reconnectMax = 500 * time.Millisecond // longest wait between attempts
)

// bus is a Tier's side of the invalidation channel.
type bus struct {
	channel string
	id      string // this Tier's id; messages carrying it are its own
	sharded bool   // SPUBLISH and SSUBSCRIBE (a ClusterClient), else PUBLISH and SUBSCRIBE
	inv     memo.Invalidations

	started   atomic.Bool // Listen ran
	gaveUp    atomic.Bool // Listen returned before the first subscription
	listening atomic.Bool
	applied   atomic.Uint64
	resyncs   atomic.Uint64

	mu     sync.Mutex // guards ps and closed
	ps     *redis.PubSub
	closed bool
	cancel context.CancelFunc
	done   chan struct{} // closed when the subscriber goroutine returns
}

// initBus names the Tier's channel and gives it an id.
func (t *Tier[V]) initBus() {
	t.bus.channel = t.ns + "invalidate"
	t.bus.id = newToken()[:idLen]
	t.bus.sharded = t.cluster != nil
}

// Listen subscribes to the invalidations of the other processes that use the
// tier's namespace, and hands them to the memo's handlers; the memo calls it
// once, when it is built (memo.TierListener). It waits for the subscription
// at most the call timeout: if Redis cannot be reached by then, the memo
// works without invalidations (Stats().Listening is false) while the tier
// goes on trying in the background, and the first subscription that
// succeeds drops the memo's local store, counted as a resync. A Tier serves
// one memo: a second Listen panics. Close stops the subscription.
func (t *Tier[V]) Listen(inv memo.Invalidations) {
	if t.o.noInvalidation {
		return
	}
	if inv.Forget == nil || inv.Clear == nil {
		panic("memoredis: Listen needs both handlers of memo.Invalidations")
	}
	b := &t.bus
	if !b.started.CompareAndSwap(false, true) {
		panic("memoredis: Listen called twice: a Tier serves one memo")
	}
	b.inv = inv
	ctx, cancel := context.WithCancel(context.Background())
	b.mu.Lock()
	b.cancel, b.done = cancel, make(chan struct{})
	b.mu.Unlock()
	ready := make(chan struct{})
	go t.subscribe(ctx, ready)
	timer := time.NewTimer(t.o.timeout)
	defer timer.Stop()
	select {
	case <-ready:
	case <-timer.C:
		b.gaveUp.Store(true)
	}
}

// Close stops the tier's subscription and waits for its goroutine; the memo
// goes on without invalidations from other processes. It does not close the
// Redis client, and the tier's other methods keep working. Close is
// idempotent and returns nil.
func (t *Tier[V]) Close() error {
	b := &t.bus
	b.mu.Lock()
	if b.closed || b.cancel == nil {
		b.closed = true
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	b.cancel()
	if b.ps != nil {
		_ = b.ps.Close() // unblocks a pending receive
	}
	done := b.done
	b.mu.Unlock()
	<-done
	return nil
}

// subscriber is the state of the subscriber goroutine.
type subscriber[V any] struct {
	t      *Tier[V]
	ps     *redis.PubSub
	ready  chan struct{} // closed at the first subscription
	first  bool          // no subscription yet
	probed bool          // a PING is out on a silent connection
	wait   time.Duration // before the next attempt after a failure
}

// subscribe is the subscriber goroutine: it receives messages, reconnects,
// and drops the local store after each (re)subscription, until Close.
func (t *Tier[V]) subscribe(ctx context.Context, ready chan struct{}) {
	b := &t.bus
	defer close(b.done)
	defer b.listening.Store(false)
	s := &subscriber[V]{t: t, ready: ready, first: true, wait: reconnectMin}
	if s.ps = t.newPubSub(ctx, nil); s.ps == nil {
		return
	}
	defer func() { _ = b.replacePubSub(s.ps, nil) }()
	for {
		msg, err := s.ps.ReceiveTimeout(ctx, healthEvery)
		if err != nil {
			if !s.failed(ctx, err) {
				return
			}
			continue
		}
		s.probed = false
		if !s.received(msg) && !s.renew(ctx) {
			return
		}
	}
}

// received handles a message of the subscription; it reports false when
// the subscription is lost: the tier never unsubscribes, so an unsubscribe
// is the server's (a sharded channel whose slot left the node).
func (s *subscriber[V]) received(msg any) bool {
	switch m := msg.(type) {
	case *redis.Subscription:
		switch m.Kind {
		case "unsubscribe", "sunsubscribe":
			return false
		case "subscribe", "ssubscribe":
		default:
			return true
		}
		s.wait = reconnectMin
		s.t.subscribed(s.first)
		if s.first {
			s.first = false
			close(s.ready)
		}
	case *redis.Message:
		s.t.apply(m.Payload)
	}
	return true
}

// failed handles a failed receive: a silent connection is probed with a
// PING; a broken one is redialed by go-redis on the next receive, and one
// that did not answer the probe is replaced, after a wait that backs off.
// It reports false once the tier is closed.
func (s *subscriber[V]) failed(ctx context.Context, err error) bool {
	if ctx.Err() != nil || errors.Is(err, redis.ErrClosed) {
		return false
	}
	if isTimeout(err) && !s.probed {
		s.probed = true
		_ = s.ps.Ping(ctx)
		return true
	}
	var refused redis.Error
	if errors.As(err, &refused) {
		return s.renew(ctx) // (S)SUBSCRIBE was refused: MOVED, CLUSTERDOWN, an unknown command
	}
	s.t.bus.listening.Store(false)
	if s.probed {
		if s.ps = s.t.newPubSub(ctx, s.ps); s.ps == nil {
			return false
		}
		s.probed = false
	}
	return s.backOff(ctx)
}

// renew replaces a subscription that the server ended or refused with a
// fresh one, after a wait that backs off. On a cluster the client's slot map
// is refreshed first: the channel's slot may have moved. It reports false
// once the tier is closed.
func (s *subscriber[V]) renew(ctx context.Context) bool {
	s.t.bus.listening.Store(false)
	if s.t.cluster != nil {
		s.t.cluster.client.ReloadState(ctx)
	}
	if !s.backOff(ctx) {
		return false
	}
	s.probed = false
	s.ps = s.t.newPubSub(ctx, s.ps)
	return s.ps != nil
}

// backOff waits before the next attempt, twice as long as the last time, at
// most reconnectMax; it reports false once the tier is closed.
func (s *subscriber[V]) backOff(ctx context.Context) bool {
	if !sleep(ctx, s.wait) {
		return false
	}
	s.wait = min(2*s.wait, reconnectMax)
	return true
}

// subscribed runs when the subscription is (re)established: the messages
// missed before it are unknown, so the local store is dropped. The first
// subscription, while the memo is still being built, finds it empty and is
// not counted, unless Listen gave up waiting for it.
func (t *Tier[V]) subscribed(first bool) {
	b := &t.bus
	b.inv.Clear()
	if !first || b.gaveUp.Load() {
		b.resyncs.Add(1)
	}
	b.listening.Store(true)
}

// newPubSub replaces the subscription old (nil for none) with a fresh one,
// or returns nil if the tier is closed.
func (t *Tier[V]) newPubSub(ctx context.Context, old *redis.PubSub) *redis.PubSub {
	var ps *redis.PubSub
	if t.bus.sharded {
		ps = t.client.SSubscribe(ctx, t.bus.channel)
	} else {
		ps = t.client.Subscribe(ctx, t.bus.channel)
	}
	if !t.bus.replacePubSub(old, ps) {
		_ = ps.Close()
		return nil
	}
	return ps
}

// replacePubSub closes old and installs ps (nil to close), under the lock
// that Close takes; it reports false if the tier is closed.
func (b *bus) replacePubSub(old, ps *redis.PubSub) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if old != nil && b.ps == old {
		_ = old.Close()
	}
	b.ps = nil
	if b.closed {
		return false
	}
	b.ps = ps
	return true
}

// apply hands another process's message to the memo.
func (t *Tier[V]) apply(payload string) {
	b := &t.bus
	if len(payload) < 1+idLen || payload[1:1+idLen] == b.id {
		return
	}
	switch payload[0] {
	case opForget:
		b.inv.Forget(payload[1+idLen:])
	case opClear:
		b.inv.Clear()
	default:
		return
	}
	b.applied.Add(1)
}

// message encodes an invalidation of this Tier.
func (t *Tier[V]) message(op byte, key string) string {
	return string(op) + t.bus.id + key
}

// publishes reports whether the Tier sends its invalidations.
func (t *Tier[V]) publishes() bool { return !t.o.noInvalidation }

// publish sends an invalidation to the other processes; a failure is counted
// like any failed call.
func (t *Tier[V]) publish(op byte, key string) {
	if !t.publishes() {
		return
	}
	_, _ = t.call(context.Background(), func(c context.Context) error {
		return t.publishCmd(c, t.client, op, key).Err()
	})
}

// publishCmd sends an invalidation through c (the client or a pipeline):
// SPUBLISH on a cluster, PUBLISH elsewhere.
func (t *Tier[V]) publishCmd(ctx context.Context, c redis.Cmdable, op byte, key string) *redis.IntCmd {
	if t.bus.sharded {
		return c.SPublish(ctx, t.bus.channel, t.message(op, key))
	}
	return c.Publish(ctx, t.bus.channel, t.message(op, key))
}

// Set writes v under key with the tier's TTL and tells the other processes
// to drop their local value of key, in one round trip, for Memo.Set. A
// value the codec cannot encode is counted as an error, and key is
// forgotten instead, so that no process keeps serving the value v replaced.
func (t *Tier[V]) Set(key string, v V) {
	data, err := t.codec.Marshal(v)
	if err != nil {
		t.errs.Add(1)
		t.Forget(key)
		return
	}
	_, _ = t.call(context.Background(), func(c context.Context) error {
		p := t.client.Pipeline()
		p.Set(c, t.valueKey(key), data, t.o.ttl)
		if t.publishes() {
			t.publishCmd(c, p, opForget, key)
		}
		_, err := p.Exec(c)
		return err
	})
}

// fillStats adds the invalidation counters to s.
func (t *Tier[V]) fillStats(s *memo.TierStats) {
	s.Invalidations = t.bus.applied.Load()
	s.Resyncs = t.bus.resyncs.Load()
	s.Listening = t.bus.listening.Load()
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// sleep waits for d or until ctx is done; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}
