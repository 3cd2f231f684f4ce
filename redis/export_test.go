package memoredis

// Test hooks: the Redis keys of one memo key, so that tests can plant values
// and leases the tier did not write.

// ValueKey returns the Redis key that holds key's value.
func (t *Tier[V]) ValueKey(key string) string { return t.valueKey(key) }

// LeaseKey returns the Redis key of key's lease.
func (t *Tier[V]) LeaseKey(key string) string { return t.leaseKey(key) }

// Channel returns the pub/sub channel of the tier's invalidations.
func (t *Tier[V]) Channel() string { return t.bus.channel }

// Slot returns the Redis Cluster hash slot of a Redis key.
func Slot(key string) int { return slot(key) }
