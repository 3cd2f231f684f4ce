// Command report runs the benchmarks of memo and its peers, replays the
// hit-ratio traces, and writes the results: the tables into
// benchmarks/README.md and the summary into the main README (between
// <!-- begin:NAME --> and <!-- end:NAME --> markers), the raw benchmark output
// into benchmarks/results/, and the plots into benchmarks/plots/.
//
// From the benchmarks folder:
//
//	go run ./cmd/report              # everything, 6 passes: about 30 minutes on 2 cores
//	go run ./cmd/report -count 1     # one pass, one sample per benchmark: a quick look
//	go run ./cmd/report -rerender    # tables and plots from the saved results
//	go run ./cmd/report -bench       # the benchmarks only, with the saved hit ratios
//	go run ./cmd/report -ratios      # the hit ratios only, with the saved benchmarks
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"image/color"
	"log"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/go-memo/memo/benchmarks"
)

var (
	count    = flag.Int("count", 6, "passes, each running every benchmark once (medians are reported)")
	rerender = flag.Bool("rerender", false, "skip running: render from results/ saved by an earlier run")
	ratios   = flag.Bool("ratios", false, "replay the hit-ratio traces only; render the benchmark tables from results/ saved by an earlier run")
	benchs   = flag.Bool("bench", false, "run the benchmarks only; render the hit-ratio tables from results/ saved by an earlier run")
	dir      = flag.String("dir", ".", "the benchmarks folder")
	replays  = flag.Int("replays", 5, "replays of each hit-ratio trace, per policy and size; the median is reported")
)

// hitRatio is the median hit ratio of *replays replays of trace through a
// new cache of peer p each time, run side by side on the machine's cores.
// One replay is not enough: memo's TinyLFU and several peers hash keys with
// a random seed (and some apply writes asynchronously), and one seed can
// move a figure by a point or two, more than the margins the tables compare.
func hitRatio(p benchmarks.Peer, capacity int, trace []int) float64 {
	rs := make([]float64, max(*replays, 1))
	var wg sync.WaitGroup
	sem := make(chan struct{}, runtime.NumCPU())
	for i := range rs {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			rs[i] = benchmarks.HitRatio(p, capacity, trace)
		})
	}
	wg.Wait()
	slices.Sort(rs)
	return rs[len(rs)/2]
}

func main() {
	flag.Parse()
	log.SetFlags(0)
	resDir := filepath.Join(*dir, "results")
	must(os.MkdirAll(resDir, 0o755))
	must(os.MkdirAll(filepath.Join(*dir, "plots"), 0o755))

	if !*rerender && !*ratios {
		machine := fmt.Sprintf("%s, %d cores, %s %s/%s, %s", cpuModel(), runtime.NumCPU(),
			runtime.Version(), runtime.GOOS, runtime.GOARCH, time.Now().UTC().Format("2006-01-02"))
		must(os.WriteFile(filepath.Join(resDir, "machine.txt"), []byte(machine+"\n"), 0o644))
		// Passes, not -count: go test -count N runs each benchmark N times
		// in a row, so two peers' samples come from different minutes, and
		// this machine runs in phases (every benchmark slow or fast
		// together). One pass runs every benchmark once; sample i of every
		// benchmark is then from pass i, and ratios are taken pass by pass.
		var out bytes.Buffer
		for pass := range *count {
			for _, r := range runs() {
				log.Printf("pass %d/%d: go %s", pass+1, *count, strings.Join(r, " "))
				cmd := exec.Command("go", r...)
				cmd.Dir = *dir
				cmd.Stdout = &out
				cmd.Stderr = os.Stderr
				must(cmd.Run())
			}
		}
		must(os.WriteFile(filepath.Join(resDir, "bench.txt"), out.Bytes(), 0o644))
	}
	if !*rerender && !*benchs {
		log.Print("replaying the hit-ratio traces")
		must(os.WriteFile(filepath.Join(resDir, "hitratio.txt"), []byte(hitRatios()), 0o644))
		must(os.WriteFile(filepath.Join(resDir, "traces.txt"), []byte(fileTraceRatios()), 0o644))
		must(os.WriteFile(filepath.Join(resDir, "moving.txt"), []byte(movingRatios()), 0o644))
	}

	machine := strings.TrimSpace(string(mustRead(filepath.Join(resDir, "machine.txt"))))
	res := parse(mustRead(filepath.Join(resDir, "bench.txt")))
	ratios := parseRatios(mustRead(filepath.Join(resDir, "hitratio.txt")))
	traceRows := parseTraceRows(readIfAny(filepath.Join(resDir, "traces.txt")))
	movingRows := parseTraceRows(readIfAny(filepath.Join(resDir, "moving.txt")))

	tables := map[string]string{
		"machine":  fmt.Sprintf("Measured on %s, with `go run ./cmd/report -count %d`: %d passes, each running every benchmark once, so that the peers' samples alternate; medians of the %d, and the hit and mixed tables also give the fastest and slowest. The ratios table divides pass by pass.\n", machine, res.samples, res.samples, res.samples),
		"ratios":   ratiosTable(res),
		"hit":      hitTable(res, "Hit"),
		"hitfull":  hitTable(res, "HitFull"),
		"mixed":    mixedTable(res),
		"herd":     herdTable(res),
		"hitratio": ratioTables(ratios),
		"traces":   fileTraceTables(traceRows),
		"moving":   fileTraceTables(movingRows),
		"memory":   memoryTable(res),
		"keys":     keyTable(res),
		"summary":  summary(res, ratios, machine),
	}
	plotThroughput(res, filepath.Join(*dir, "plots", "throughput.svg"))
	plotRatios(ratios, filepath.Join(*dir, "plots", "hitratio.svg"))
	plotFileTraces(traceRows, filepath.Join(*dir, "plots", "traces.svg"))
	plotFileTraces(movingRows, filepath.Join(*dir, "plots", "moving.svg"))
	fill(filepath.Join(*dir, "README.md"), tables)
	fill(filepath.Join(*dir, "..", "README.md"), map[string]string{"bench-summary": tables["summary"]})
	log.Print("wrote README.md, ../README.md, plots/ and results/")
}

// runs are the go test invocations of one pass: each benchmark once, at the
// core counts where it matters.
func runs() [][]string {
	base := []string{"test", "-run", "^$", "-benchmem", "-count", "1", "-timeout", "0"}
	return [][]string{
		append(slices.Clone(base), "-bench", "^BenchmarkHit$/./mode=serial", "-cpu", "1"),
		append(slices.Clone(base), "-bench", "^BenchmarkHit$/./mode=parallel", "-cpu", "2"),
		append(slices.Clone(base), "-bench", "^BenchmarkHitFull$/./mode=serial", "-cpu", "1"),
		append(slices.Clone(base), "-bench", "^BenchmarkHitFull$/./mode=parallel", "-cpu", "2"),
		append(slices.Clone(base), "-bench", "^BenchmarkMixed$/././mode=serial", "-cpu", "1"),
		append(slices.Clone(base), "-bench", "^BenchmarkMixed$/././mode=parallel", "-cpu", "2"),
		append(slices.Clone(base), "-bench", "^BenchmarkHerd$", "-cpu", "2"),
		append(slices.Clone(base), "-bench", "^BenchmarkMemory$", "-cpu", "1", "-benchtime", "1x"),
		append(slices.Clone(base), "-bench", "^BenchmarkKeyEncode$", "-cpu", "1", "github.com/go-memo/memo"), // the core's own
	}
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if name, ok := strings.CutPrefix(line, "model name"); ok {
				return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(name), ":"))
			}
		}
	}
	return runtime.GOARCH
}

// results holds the samples of every benchmark, by full name (with the -N
// suffix of GOMAXPROCS) and unit.
type results struct {
	samples int
	vals    map[string]map[string][]float64
}

var benchLine = regexp.MustCompile(`^(Benchmark\S+)\s+\d+\s+(.*)$`)

func parse(b []byte) results {
	r := results{vals: map[string]map[string][]float64{}}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		m := benchLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		f := strings.Fields(m[2])
		if r.vals[m[1]] == nil {
			r.vals[m[1]] = map[string][]float64{}
		}
		for i := 0; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err == nil {
				r.vals[m[1]][f[i+1]] = append(r.vals[m[1]][f[i+1]], v)
			}
		}
		r.samples = max(r.samples, len(r.vals[m[1]]["ns/op"]))
	}
	return r
}

// median returns the median of a benchmark's unit, or -1 if it did not run.
func (r results) median(name, unit string) float64 {
	return medianOf(r.vals[name][unit])
}

// medianOf returns the median of v, or -1 for none.
func medianOf(v []float64) float64 {
	if len(v) == 0 {
		return -1
	}
	v = slices.Clone(v)
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// minMax returns the smallest and largest sample of a benchmark's unit, or
// -1, -1 if it did not run.
func (r results) minMax(name, unit string) (lo, hi float64) {
	v := r.vals[name][unit]
	if len(v) == 0 {
		return -1, -1
	}
	return slices.Min(v), slices.Max(v)
}

// nsSpread formats a benchmark's ns/op as the median with the smallest and
// largest of the runs, so that a table shows how steady a figure is:
// "36.4 ns (35.9–37.8)".
func nsSpread(r results, name string) string {
	med := r.median(name, "ns/op")
	if med < 0 {
		return "–"
	}
	lo, hi := r.minMax(name, "ns/op")
	return fmt.Sprintf("%s (%s–%s)", ns(med), strings.TrimSuffix(ns(lo), " ns"), strings.TrimSuffix(ns(hi), " ns"))
}

// name builds a benchmark's full name; cpu 1 has no suffix.
func name(parts string, cpu int) string {
	if cpu == 1 {
		return "Benchmark" + parts
	}
	return fmt.Sprintf("Benchmark%s-%d", parts, cpu)
}

func ns(v float64) string {
	switch {
	case v < 0:
		return "–"
	case v >= 1e6:
		return fmt.Sprintf("%.1f ms", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.2f µs", v/1e3)
	case v >= 100:
		return fmt.Sprintf("%.0f ns", v)
	}
	return fmt.Sprintf("%.1f ns", v)
}

func ratio(v, base float64) string {
	if v < 0 || base <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", v/base)
}

var floor = "sync.Map"

// hitTable is the table of a hit workload: bench is "Hit" (room to spare)
// or "HitFull" (a full cache, where it also gives the share of Gets that hit:
// a policy that admits by frequency may keep some of the 10 000 keys out,
// and those Gets call the loader).
func hitTable(r results, bench string) string {
	hits := bench == "HitFull"
	head, align := "| peer | serial, median (min–max) | × sync.Map | parallel, 2 cores, median (min–max) | × sync.Map |", "|---|---:|---:|---:|---:|"
	if hits {
		head, align = head+" hits, parallel |", align+"---:|"
	}
	var sb strings.Builder
	sb.WriteString(head + " allocs/op |\n" + align + "---:|\n")
	fs := r.median(name(bench+"/peer="+floor+"/mode=serial", 1), "ns/op")
	fp := r.median(name(bench+"/peer="+floor+"/mode=parallel", 2), "ns/op")
	for _, p := range benchmarks.Peers {
		s := name(bench+"/peer="+p.Name+"/mode=serial", 1)
		par := name(bench+"/peer="+p.Name+"/mode=parallel", 2)
		fmt.Fprintf(&sb, "| %s | %s | %s | %s | %s |", p.Name,
			nsSpread(r, s), ratio(r.median(s, "ns/op"), fs),
			nsSpread(r, par), ratio(r.median(par, "ns/op"), fp))
		if hits {
			h := "–"
			if v := r.median(par, "hit%"); v >= 0 {
				h = fmt.Sprintf("%.1f%%", v)
			}
			fmt.Fprintf(&sb, " %s |", h)
		}
		fmt.Fprintf(&sb, " %s |\n", num(r.median(par, "allocs/op")))
	}
	return sb.String()
}

// passRatios returns the ratios of a's ns/op to b's, sample by sample: both
// ran in the same pass, so the machine's phase cancels out.
func (r results) passRatios(a, b string) []float64 {
	va, vb := r.vals[a]["ns/op"], r.vals[b]["ns/op"]
	var out []float64
	for i := range min(len(va), len(vb)) {
		if vb[i] > 0 {
			out = append(out, va[i]/vb[i])
		}
	}
	return out
}

// spreadRatio formats ratios as "median (min–max)".
func spreadRatio(v []float64) string {
	if len(v) == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f× (%.2f–%.2f)", medianOf(v), slices.Min(v), slices.Max(v))
}

// ratiosTable gives memo's two bounded stores against golang-lru and otter,
// workload by workload, as ratios taken pass by pass: median (min–max) over
// the passes; below 1 is faster than the peer.
func ratiosTable(r results) string {
	var sb strings.Builder
	sb.WriteString("| workload | LRU ÷ golang-lru | LRU ÷ otter | TinyLFU ÷ golang-lru | TinyLFU ÷ otter |\n|---|---:|---:|---:|---:|\n")
	rows := []struct{ label, bench string }{
		{"hit, serial", "Hit/peer=%s/mode=serial"},
		{"hit, parallel", "Hit/peer=%s/mode=parallel-2"},
		{"hit on a full cache, serial", "HitFull/peer=%s/mode=serial"},
		{"hit on a full cache, parallel", "HitFull/peer=%s/mode=parallel-2"},
		{"mixed 75 % reads, serial", "Mixed/reads=75/peer=%s/mode=serial"},
		{"mixed 75 % reads, parallel", "Mixed/reads=75/peer=%s/mode=parallel-2"},
		{"mixed 50 % reads, serial", "Mixed/reads=50/peer=%s/mode=serial"},
		{"mixed 50 % reads, parallel", "Mixed/reads=50/peer=%s/mode=parallel-2"},
	}
	for _, row := range rows {
		b := func(peer string) string { return "Benchmark" + fmt.Sprintf(row.bench, peer) }
		fmt.Fprintf(&sb, "| %s | %s | %s | %s | %s |\n", row.label,
			spreadRatio(r.passRatios(b("memo"), b("golang-lru"))), spreadRatio(r.passRatios(b("memo"), b("otter"))),
			spreadRatio(r.passRatios(b("memo-tinylfu"), b("golang-lru"))), spreadRatio(r.passRatios(b("memo-tinylfu"), b("otter"))))
	}
	return sb.String()
}

func num(v float64) string {
	if v < 0 {
		return "–"
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

func mixedTable(r results) string {
	var sb strings.Builder
	sb.WriteString("| peer | 75% reads, serial, median (min–max) | 75% reads, parallel | × sync.Map | 50% reads, serial | 50% reads, parallel | × sync.Map |\n|---|---:|---:|---:|---:|---:|---:|\n")
	for _, p := range benchmarks.Peers {
		fmt.Fprintf(&sb, "| %s", p.Name)
		for _, reads := range []string{"75", "50"} {
			pre := "Mixed/reads=" + reads + "/peer="
			par := r.median(name(pre+p.Name+"/mode=parallel", 2), "ns/op")
			fp := r.median(name(pre+floor+"/mode=parallel", 2), "ns/op")
			fmt.Fprintf(&sb, " | %s | %s | %s", nsSpread(r, name(pre+p.Name+"/mode=serial", 1)),
				nsSpread(r, name(pre+p.Name+"/mode=parallel", 2)), ratio(par, fp))
		}
		sb.WriteString(" |\n")
	}
	return sb.String()
}

func herdTable(r results) string {
	var sb strings.Builder
	sb.WriteString("| peer | loader calls per herd | p50 latency | p99 latency |\n|---|---:|---:|---:|\n")
	peers := []string{}
	for _, p := range benchmarks.Peers {
		peers = append(peers, p.Name)
	}
	for _, p := range append(peers, "singleflight") {
		n := name("Herd/peer="+p, 2)
		fmt.Fprintf(&sb, "| %s | %s | %.1f ms | %.1f ms |\n", p, num(r.median(n, "loads/op")), r.median(n, "p50-ms"), r.median(n, "p99-ms"))
	}
	return sb.String()
}

func memoryTable(r results) string {
	var sb strings.Builder
	sb.WriteString("| peer | int→int | string→[]byte(64) | entries held of 1 000 000 |\n|---|---:|---:|---:|\n")
	for _, p := range benchmarks.Peers {
		i := r.median(name("Memory/kind=int/peer="+p.Name, 1), "bytes/entry")
		s := r.median(name("Memory/kind=string-bytes64/peer="+p.Name, 1), "bytes/entry")
		h := min(r.median(name("Memory/kind=int/peer="+p.Name, 1), "held%"), r.median(name("Memory/kind=string-bytes64/peer="+p.Name, 1), "held%"))
		fmt.Fprintf(&sb, "| %s | %.0f B | %.0f B | %.1f%% |\n", p.Name, i, s, h)
	}
	return sb.String()
}

func keyTable(r results) string {
	var sb strings.Builder
	sb.WriteString("| encoder | time | × CanonicalKey | allocs/op |\n|---|---:|---:|---:|\n")
	base := r.median(name("KeyEncode/impl=CanonicalKey", 1), "ns/op")
	for _, impl := range []string{"CanonicalKey", "append-KeyFunc", "fmt-Sprintf", "json-Marshal"} {
		n := name("KeyEncode/impl="+impl, 1)
		v := r.median(n, "ns/op")
		fmt.Fprintf(&sb, "| %s | %s | %s | %s |\n", impl, ns(v), ratio(v, base), num(r.median(n, "allocs/op")))
	}
	return sb.String()
}

// ratioRow is one peer's hit ratios on one trace, by capacity.
type ratioRow struct {
	trace, peer string
	ratios      []float64
}

func hitRatios() string {
	var sb strings.Builder
	for _, tr := range benchmarks.Traces(50_000, 500_000) {
		caps := make([]int, len(benchmarks.Capacities))
		for i, f := range benchmarks.Capacities {
			caps[i] = int(f * float64(tr.Distinct))
		}
		ref := make([]string, len(caps))
		for i, c := range caps {
			ref[i] = strconv.FormatFloat(benchmarks.ReferenceLRU(c, tr.Keys), 'f', 6, 64)
		}
		fmt.Fprintf(&sb, "%s reference-LRU %s\n", tr.Name, strings.Join(ref, " "))
		for _, p := range benchmarks.Peers {
			if !p.Bounded {
				continue
			}
			row := make([]string, len(caps))
			for i, c := range caps {
				row[i] = strconv.FormatFloat(hitRatio(p, c, tr.Keys), 'f', 6, 64)
			}
			fmt.Fprintf(&sb, "%s %s %s\n", tr.Name, p.Name, strings.Join(row, " "))
		}
	}
	return sb.String()
}

func parseRatios(b []byte) []ratioRow {
	var rows []ratioRow
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 {
			continue
		}
		row := ratioRow{trace: f[0], peer: f[1]}
		for _, s := range f[2:] {
			v, _ := strconv.ParseFloat(s, 64)
			row.ratios = append(row.ratios, v)
		}
		rows = append(rows, row)
	}
	return rows
}

func ratioTables(rows []ratioRow) string {
	var sb strings.Builder
	trace := ""
	for _, r := range rows {
		if r.trace != trace {
			trace = r.trace
			fmt.Fprintf(&sb, "\n**%s** (cache size as a share of the %s distinct keys)\n\n| peer |", trace, "50 000")
			for _, f := range benchmarks.Capacities {
				fmt.Fprintf(&sb, " %g%% |", 100*f)
			}
			sb.WriteString("\n|---|" + strings.Repeat("---:|", len(benchmarks.Capacities)) + "\n")
		}
		fmt.Fprintf(&sb, "| %s |", r.peer)
		for _, v := range r.ratios {
			fmt.Fprintf(&sb, " %.2f%% |", 100*v)
		}
		sb.WriteString("\n")
	}
	return sb.String()
}

func summary(r results, rows []ratioRow, machine string) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "Measured on %s; medians of %d passes, regenerated by `go run ./cmd/report` in [benchmarks/](benchmarks), where the other workloads (mixed reads and writes, the thundering herd, memory, key encoding), the hit-ratio tables and the plots are.\n\n", machine, r.samples)
	sb.WriteString("Hit throughput: Zipf(1.01) keys over 10 000 entries that fit every cache, all hits. `memo` is `WithCapacity` (an exact LRU), `memo-unbounded` the default map store.\n\n")
	sb.WriteString(hitTable(r, "Hit"))
	var full []string
	for _, p := range []string{"memo", "memo-tinylfu", "golang-lru", "otter"} {
		full = append(full, fmt.Sprintf("%s %s", p, nsSpread(r, name("HitFull/peer="+p+"/mode=parallel", 2))))
	}
	sb.WriteString("\nThe same hits on a full cache (exactly 10 000 entries, so that every key is at stake), parallel on 2 cores, median (min–max): " + strings.Join(full, ", ") + "; every peer in [benchmarks/](benchmarks#1b-hits-on-a-full-cache).\n")
	sb.WriteString("\nmemo's bounded stores against golang-lru and otter, as ratios of time per operation taken pass by pass (each pass runs every peer once, one after another), median (min–max) over the passes; below 1 is faster:\n\n")
	sb.WriteString(ratiosTable(r))
	sb.WriteString("\nHit ratio with a cache of 10% of the keys, Zipf 1.0 traffic (higher is better; the TinyLFU caches beat every exact LRU here, by design):\n\n| peer | hit ratio |\n|---|---:|\n")
	for _, row := range rows {
		if row.trace == "zipf-1.0" {
			fmt.Fprintf(&sb, "| %s | %.2f%% |\n", row.peer, 100*row.ratios[len(row.ratios)-1])
		}
	}
	var mem []string
	for _, p := range []string{"memo", "memo-tinylfu", "memo-unbounded", "golang-lru", "otter", "theine", "ttlcache", "sync.Map", "RWMutex-map"} {
		mem = append(mem, fmt.Sprintf("%s %.0f B", p, r.median(name("Memory/kind=int/peer="+p, 1), "bytes/entry")))
	}
	sb.WriteString("\nMemory per entry, 1 000 000 int→int entries: " + strings.Join(mem, ", ") + ".")
	sb.WriteString("\n\n![ns/op per peer](benchmarks/plots/throughput.svg)\n")
	return sb.String()
}

func plotThroughput(r results, path string) {
	p := plot.New()
	p.Title.Text = "Time per operation (lower is better)"
	p.Y.Label.Text = "ns/op"
	series := []struct{ label, bench string }{
		{"hit, serial", "Hit/peer=%s/mode=serial"},
		{"hit, parallel (2 cores)", "Hit/peer=%s/mode=parallel-2"},
		{"75% reads, parallel", "Mixed/reads=75/peer=%s/mode=parallel-2"},
		{"50% reads, parallel", "Mixed/reads=50/peer=%s/mode=parallel-2"},
	}
	var names []string
	for _, peer := range benchmarks.Peers {
		names = append(names, peer.Name)
	}
	w := vg.Points(7)
	top := 0.0
	for i, s := range series {
		vals := make(plotter.Values, len(names))
		for j, peer := range names {
			vals[j] = max(0, r.median("Benchmark"+fmt.Sprintf(s.bench, peer), "ns/op"))
			top = max(top, vals[j])
		}
		bars, err := plotter.NewBarChart(vals, w)
		must(err)
		bars.LineStyle.Width = 0
		bars.Color = plotutil.Color(i)
		bars.Offset = w * vg.Length(i-len(series)/2)
		p.Add(bars)
		p.Legend.Add(s.label, bars)
	}
	p.Legend.Top, p.Legend.Left = true, true
	p.Legend.XOffs = vg.Points(10)
	p.Y.Min, p.Y.Max = 0, top*1.4 // room for the legend above the bars
	p.NominalX(names...)
	p.X.Tick.Label.Rotation = math.Pi / 6
	p.X.Tick.Label.XAlign = draw.XRight
	p.X.Tick.Label.YAlign = draw.YCenter
	must(p.Save(10*vg.Inch, 5*vg.Inch, path))
}

func plotRatios(rows []ratioRow, path string) {
	var traces []string
	for _, r := range rows {
		if !slices.Contains(traces, r.trace) {
			traces = append(traces, r.trace)
		}
	}
	plots := make([][]*plot.Plot, 2)
	for i, tr := range traces {
		p := plot.New()
		p.Title.Text = tr
		p.X.Label.Text = "cache size, % of distinct keys"
		p.Y.Label.Text = "hit ratio %"
		p.X.Scale = plot.LogScale{}
		var ticks []plot.Tick
		for _, f := range benchmarks.Capacities {
			ticks = append(ticks, plot.Tick{Value: 100 * f, Label: strconv.FormatFloat(100*f, 'g', -1, 64)})
		}
		p.X.Tick.Marker = plot.ConstantTicks(ticks)
		p.Legend.Top, p.Legend.Left = true, true
		p.Legend.XOffs = vg.Points(5)
		// Peers whose ratios equal the reference LRU's on every size are one
		// line: the exact LRUs.
		var ref []float64
		for _, r := range rows {
			if r.trace == tr && r.peer == "reference-LRU" {
				ref = r.ratios
			}
		}
		var same []string
		var others []ratioRow
		for _, r := range rows {
			switch {
			case r.trace != tr || r.peer == "reference-LRU":
			case slices.Equal(r.ratios, ref):
				same = append(same, r.peer)
			default:
				others = append(others, r)
			}
		}
		label := "exact LRU: " + strings.ReplaceAll(strings.Join(same, ", "), "golang-lru, golang-lru-expirable", "golang-lru (both)")
		lines := append([]ratioRow{{tr, label, ref}}, others...)
		top := 0.0
		for n, r := range lines {
			pts := make(plotter.XYs, len(r.ratios))
			for j, v := range r.ratios {
				pts[j] = plotter.XY{X: 100 * benchmarks.Capacities[j], Y: 100 * v}
				top = max(top, 100*v)
			}
			l, sc, err := plotter.NewLinePoints(pts)
			must(err)
			l.Color, sc.Color = plotutil.Color(n), plotutil.Color(n)
			sc.Shape = plotutil.Shape(n)
			if n == 0 {
				l.Color, sc.Color = color.Black, color.Black
				l.Width = vg.Points(1.5)
			}
			p.Add(l, sc)
			p.Legend.Add(r.peer, l, sc)
		}
		p.Y.Max = min(100, top*1.35) // room for the legend
		p.Legend.TextStyle.Font.Size = vg.Points(9)
		plots[i/2] = append(plots[i/2], p)
	}
	img := newSVG(12*vg.Inch, 9*vg.Inch)
	canvases := plot.Align(plots, draw2x2(), img.canvas())
	for i := range plots {
		for j := range plots[i] {
			plots[i][j].Draw(canvases[i][j])
		}
	}
	img.save(path)
}

// fill replaces the text between <!-- begin:NAME --> and <!-- end:NAME -->
// in the file at path for every NAME in parts (see fillText).
func fill(path string, parts map[string]string) {
	b, err := fillText(string(mustRead(path)), parts)
	if err != nil {
		log.Fatalf("%s: %v", path, err)
	}
	must(os.WriteFile(path, []byte(b), 0o644))
}

// fillText replaces the text between <!-- begin:NAME --> and
// <!-- end:NAME --> for every NAME in parts that b marks. A NAME marked
// twice is an error: only one copy would be filled, and the other would go
// stale without a word.
func fillText(b string, parts map[string]string) (string, error) {
	for k, v := range parts {
		begin, end := "<!-- begin:"+k+" -->\n", "<!-- end:"+k+" -->"
		if n, m := strings.Count(b, begin), strings.Count(b, end); n > 1 || m > 1 {
			return "", fmt.Errorf("section %q is marked %d times (begin) and %d times (end)", k, n, m)
		}
		i := strings.Index(b, begin)
		j := strings.Index(b, end)
		if i < 0 || j < i {
			continue
		}
		b = b[:i+len(begin)] + v + b[j:]
	}
	return b, nil
}

// readIfAny returns the file's contents, or nothing if it does not exist.
func readIfAny(path string) []byte {
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		must(err)
	}
	return b
}

func mustRead(path string) []byte {
	b, err := os.ReadFile(path)
	must(err)
	return b
}

func must(err error) {
	if err != nil {
		log.Fatal(err)
	}
}

// svgImage is an SVG canvas for a grid of plots.
type svgImage struct{ c *vgsvg.Canvas }

func newSVG(w, h vg.Length) svgImage   { return svgImage{vgsvg.New(w, h)} }
func (s svgImage) canvas() draw.Canvas { return draw.New(s.c) }
func draw2x2() draw.Tiles {
	return draw.Tiles{Rows: 2, Cols: 2, PadX: vg.Millimeter * 8, PadY: vg.Millimeter * 8, PadTop: vg.Millimeter * 3, PadBottom: vg.Millimeter * 3, PadLeft: vg.Millimeter * 3, PadRight: vg.Millimeter * 3}
}
func (s svgImage) save(path string) {
	f, err := os.Create(path)
	must(err)
	_, err = s.c.WriteTo(f)
	must(err)
	must(f.Close())
}
