package main

import (
	"strings"
	"testing"
)

// Two passes of two benchmarks, as the report's passes write them: sample i
// of every benchmark comes from pass i, so the ratios pair them by pass, not
// by sorting each benchmark's samples.
func TestPassRatiosPairSamplesByPass(t *testing.T) {
	out := strings.Join([]string{
		"BenchmarkHit/peer=memo/mode=serial     	 1000	 10.0 ns/op	 0 B/op	 0 allocs/op",
		"BenchmarkHit/peer=otter/mode=serial    	 1000	 40.0 ns/op	 0 B/op	 0 allocs/op",
		"BenchmarkHit/peer=memo/mode=serial     	 1000	 30.0 ns/op	 0 B/op	 0 allocs/op",
		"BenchmarkHit/peer=otter/mode=serial    	 1000	 20.0 ns/op	 0 B/op	 0 allocs/op",
	}, "\n")
	r := parse([]byte(out))
	if r.samples != 2 {
		t.Fatalf("samples = %d, want 2", r.samples)
	}
	got := r.passRatios("BenchmarkHit/peer=memo/mode=serial", "BenchmarkHit/peer=otter/mode=serial")
	want := []float64{0.25, 1.5} // pass 1: 10/40, pass 2: 30/20; the medians' ratio would be 1
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("passRatios = %v, want %v", got, want)
	}
	if s := spreadRatio(got); s != "0.88× (0.25–1.50)" {
		t.Errorf("spreadRatio = %q", s)
	}
	if s := spreadRatio(nil); s != "–" {
		t.Errorf("spreadRatio(nil) = %q, want –", s)
	}
	if got := r.passRatios("BenchmarkHit/peer=memo/mode=serial", "BenchmarkMissing"); len(got) != 0 {
		t.Errorf("passRatios against a benchmark that did not run = %v, want none", got)
	}
}

func TestRatiosTableNamesEveryWorkload(t *testing.T) {
	var lines []string
	for _, peer := range []string{"memo", "memo-tinylfu", "golang-lru", "otter"} {
		lines = append(lines,
			"BenchmarkHitFull/peer="+peer+"/mode=parallel-2 	 1000	 20.0 ns/op",
			"BenchmarkMixed/reads=50/peer="+peer+"/mode=serial 	 1000	 100 ns/op")
	}
	table := ratiosTable(parse([]byte(strings.Join(lines, "\n"))))
	for _, want := range []string{
		"| hit on a full cache, parallel | 1.00× (1.00–1.00) | 1.00× (1.00–1.00) | 1.00× (1.00–1.00) | 1.00× (1.00–1.00) |",
		"| mixed 50 % reads, serial | 1.00× (1.00–1.00) |",
		"| hit, serial | – | – | – | – |",
	} {
		if !strings.Contains(table, want) {
			t.Errorf("ratiosTable lacks %q:\n%s", want, table)
		}
	}
}

func TestFillTextReplacesOnlyBetweenMarkers(t *testing.T) {
	in := "intro\n<!-- begin:hit -->\nold\n<!-- end:hit -->\nrest\n"
	got, err := fillText(in, map[string]string{"hit": "new\n", "absent": "x\n"})
	if err != nil {
		t.Fatal(err)
	}
	if want := "intro\n<!-- begin:hit -->\nnew\n<!-- end:hit -->\nrest\n"; got != want {
		t.Errorf("fillText = %q, want %q", got, want)
	}
}

// A section pasted twice (as an edit of benchmarks/README.md once did) must
// stop the report: fill would update the first copy and leave the second
// stale.
func TestFillTextRefusesASectionMarkedTwice(t *testing.T) {
	one := "<!-- begin:moving -->\nold\n<!-- end:moving -->\n"
	if _, err := fillText(one+"text\n"+one, map[string]string{"moving": "new\n"}); err == nil {
		t.Fatal("fillText filled a section marked twice, want an error")
	}
}
