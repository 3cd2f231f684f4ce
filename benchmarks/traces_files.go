package benchmarks

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"github.com/ulikunitz/xz"
)

// FileTrace is a recorded trace of ../shared/traces and the cache sizes its
// README lists for it.
type FileTrace struct {
	Name  string
	Sizes []int
	Keys  []int
}

// smallSizes are the cache sizes people report for the LIRS and Corda traces.
var smallSizes = []int{250, 500, 1000, 1500, 2000}

// TraceFiles are the recorded traces, by name, with their file and format,
// in the order of the tables. "mixed" is corda, then loop, then corda again,
// as otter's simulator replays it.
var TraceFiles = []struct {
	Name, File string
	Binary     bool // big-endian uint64 keys; else one decimal key a line
	Sizes      []int
}{
	{"lirs-gli", "lirs-gli.gz", false, smallSizes},
	{"lirs-loop", "lirs-loop.gz", false, smallSizes},
	{"corda", "corda-vaultservice.gz", true, smallSizes},
	{"scarab", "scarab-recs.trace.xz", true, []int{1_000, 10_000, 25_000, 50_000, 100_000, 125_000}},
}

// TracesDir returns the folder of the recorded traces: the shared/ beside
// the repository (../shared from the repository root, as in CI, where a copy
// of shared/ sits beside the clone, or the repository's parent's shared/ for
// a worktree), or $MEMO_TRACES if set. It returns "" if none is there.
func TracesDir() string {
	if d := os.Getenv("MEMO_TRACES"); d != "" {
		return d
	}
	_, file, _, _ := runtime.Caller(0)
	repo := filepath.Dir(filepath.Dir(file)) // benchmarks/ is in the repository root
	for _, d := range []string{
		filepath.Join(repo, "..", "shared", "traces"),
		filepath.Join(repo, "shared", "traces"),
	} {
		if _, err := os.Stat(filepath.Join(d, "README.md")); err == nil {
			return d
		}
	}
	return ""
}

// LoadFileTraces reads every recorded trace in dir, plus "mixed".
func LoadFileTraces(dir string) ([]FileTrace, error) {
	var out []FileTrace
	byName := map[string][]int{}
	for _, f := range TraceFiles {
		keys, err := readTrace(filepath.Join(dir, f.File), f.Binary)
		if err != nil {
			return nil, fmt.Errorf("trace %s: %w", f.Name, err)
		}
		byName[f.Name] = keys
		out = append(out, FileTrace{f.Name, f.Sizes, keys})
	}
	var mixed []int
	mixed = append(mixed, byName["corda"]...)
	mixed = append(mixed, byName["lirs-loop"]...)
	mixed = append(mixed, byName["corda"]...)
	// scarab stays last: the biggest.
	return append(out[:3:3], FileTrace{"mixed", smallSizes, mixed}, out[3]), nil
}

func readTrace(path string, binaryKeys bool) ([]int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var r io.Reader
	switch {
	case strings.HasSuffix(path, ".gz"):
		z, err := gzip.NewReader(f)
		if err != nil {
			return nil, err
		}
		r = z
	case strings.HasSuffix(path, ".xz"):
		z, err := xz.NewReader(bufio.NewReaderSize(f, 1<<16))
		if err != nil {
			return nil, err
		}
		r = z
	default:
		r = f
	}
	br := bufio.NewReaderSize(r, 1<<16)
	if binaryKeys {
		return readBinaryKeys(br)
	}
	return readTextKeys(br)
}

func readBinaryKeys(r io.Reader) ([]int, error) {
	var keys []int
	var b [8]byte
	for {
		_, err := io.ReadFull(r, b[:])
		if errors.Is(err, io.EOF) {
			return keys, nil
		}
		if err != nil {
			return nil, err
		}
		keys = append(keys, int(binary.BigEndian.Uint64(b[:])))
	}
}

func readTextKeys(r io.Reader) ([]int, error) {
	var keys []int
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		k, err := strconv.ParseInt(line, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", len(keys)+1, err)
		}
		keys = append(keys, int(k))
	}
	return keys, sc.Err()
}
