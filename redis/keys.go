package memoredis

import (
	"fmt"
	"strings"
)

// The Redis keys of one memo key: ns + "{=" + key + "}v" for its value and
// "}l" for its lease. Two namespaces, so that no key's value can ever be
// taken for another key's lease (the last byte tells them apart, and equal
// lengths force equal keys). The braces are a Redis Cluster hash tag: a key's
// value and lease live in one slot, so that the scripts that touch both
// (acquire, finish) and Forget's DEL of both work on a cluster too. The tag
// is the text between the first "{" and the next "}", always inside the part
// both keys share, and never empty: the key follows a "=", and New refuses a
// prefix whose first "{" is followed at once by "}". A prefix holding its own
// tag ("{rates}") puts all of the tier's keys in one slot.
func (t *Tier[V]) valueKey(key string) string { return t.ns + "{" + tagged(key) + "}v" }
func (t *Tier[V]) leaseKey(key string) string { return t.ns + "{" + tagged(key) + "}l" }

// tagged keeps the hash tag of an empty key from being empty ("{}" would hash
// the whole key, putting value and lease in different slots).
func tagged(key string) string { return "=" + key }

// checkPrefix panics if prefix would give value and lease keys different hash
// tags: when its first "{" is followed at once by "}".
func checkPrefix(prefix string) {
	if i := strings.IndexByte(prefix, '{'); i >= 0 && strings.HasPrefix(prefix[i:], "{}") {
		panic(fmt.Sprintf("memoredis: New: prefix %q holds an empty hash tag {}: a key's value and lease would land in different Redis Cluster slots", prefix))
	}
}

// escapeGlob escapes the bytes that SCAN MATCH treats as a pattern, byte by
// byte, so that a prefix that is not valid UTF-8 is matched as it is.
func escapeGlob(s string) string {
	var sb strings.Builder
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(`*?[]\`, s[i]) >= 0 {
			sb.WriteByte('\\')
		}
		sb.WriteByte(s[i])
	}
	return sb.String()
}
