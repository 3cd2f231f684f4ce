package main

// The recorded traces' part of the report: every trace of ../shared/traces
// at every size its README lists, replayed through memo's two policies and
// the frequency-aware peers, beside Belady's optimum.

import (
	"fmt"
	"log"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/go-memo/memo/benchmarks"
)

// traceRow is one policy's hit ratios on one recorded trace, by size.
type traceRow struct {
	trace, peer string
	sizes       []int
	ratios      []float64
}

// fileTraceRatios replays every recorded trace and returns the results as
// text, one "trace peer size:ratio ..." line per policy; "" if the traces
// are absent.
func fileTraceRatios() string {
	dir := benchmarks.TracesDir()
	if dir == "" {
		log.Print("no recorded traces (../shared/traces): skipping them")
		return ""
	}
	trs, err := benchmarks.LoadFileTraces(dir)
	must(err)
	return replayTraces(trs)
}

// movingRatios replays the moving hot sets (benchmarks.MovingHotSets), in
// the format of fileTraceRatios.
func movingRatios() string { return replayTraces(benchmarks.MovingHotSets()) }

// replayTraces replays every trace at each of its sizes through Belady's
// optimum and every policy of benchmarks.TracePeers.
func replayTraces(trs []benchmarks.FileTrace) string {
	var sb strings.Builder
	for _, tr := range trs {
		line := func(peer string, f func(n int) float64) {
			fmt.Fprintf(&sb, "%s %s", tr.Name, peer)
			for _, n := range tr.Sizes {
				fmt.Fprintf(&sb, " %d:%.6f", n, f(n))
			}
			sb.WriteString("\n")
		}
		line("optimal", func(n int) float64 { return benchmarks.OptimalHitRatio(n, tr.Keys) })
		for _, name := range benchmarks.TracePeers {
			p := benchmarks.PeerByName(name)
			line(name, func(n int) float64 { return hitRatio(p, n, tr.Keys) })
		}
		log.Printf("replayed %s", tr.Name)
	}
	return sb.String()
}

func parseTraceRows(b []byte) []traceRow {
	var rows []traceRow
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 {
			continue
		}
		r := traceRow{trace: f[0], peer: f[1]}
		for _, cell := range f[2:] {
			n, v, _ := strings.Cut(cell, ":")
			size, _ := strconv.Atoi(n)
			ratio, _ := strconv.ParseFloat(v, 64)
			r.sizes, r.ratios = append(r.sizes, size), append(r.ratios, ratio)
		}
		rows = append(rows, r)
	}
	return rows
}

// fileTraceTables renders one table per trace, with memo-tinylfu's margin
// over the best peer (negative: behind) in its last row.
func fileTraceTables(rows []traceRow) string {
	if len(rows) == 0 {
		return "The recorded traces were absent when the report ran.\n"
	}
	var sb strings.Builder
	for _, tr := range traceNames(rows) {
		var mine, lru []float64
		best := map[int]float64{}
		header := true
		for _, r := range rows {
			if r.trace != tr {
				continue
			}
			if header {
				header = false
				fmt.Fprintf(&sb, "\n**%s** (hit ratio %%, by cache size)\n\n| policy |", tr)
				for _, n := range r.sizes {
					fmt.Fprintf(&sb, " %d |", n)
				}
				sb.WriteString("\n|---|" + strings.Repeat("---:|", len(r.sizes)) + "\n")
			}
			fmt.Fprintf(&sb, "| %s |", r.peer)
			for i, v := range r.ratios {
				fmt.Fprintf(&sb, " %.2f |", 100*v)
				if r.peer != "optimal" && r.peer != "memo-tinylfu" && r.peer != "memo" {
					best[i] = max(best[i], v)
				}
			}
			sb.WriteString("\n")
			switch r.peer {
			case "memo-tinylfu":
				mine = r.ratios
			case "memo":
				lru = r.ratios
			}
		}
		sb.WriteString("| *memo-tinylfu − best peer* |")
		for i, v := range mine {
			fmt.Fprintf(&sb, " %+.2f |", 100*(v-best[i]))
		}
		sb.WriteString("\n| *memo-tinylfu − memo LRU* |")
		for i, v := range mine {
			if i < len(lru) {
				fmt.Fprintf(&sb, " %+.2f |", 100*(v-lru[i]))
			}
		}
		sb.WriteString("\n")
	}
	return sb.String()
}

func traceNames(rows []traceRow) []string {
	var names []string
	for _, r := range rows {
		if !slices.Contains(names, r.trace) {
			names = append(names, r.trace)
		}
	}
	return names
}

// plotFileTraces draws one panel per recorded trace: hit ratio by cache
// size, a line per policy, Belady's optimum dashed.
func plotFileTraces(rows []traceRow, path string) {
	if len(rows) == 0 {
		return
	}
	names := traceNames(rows)
	const cols = 3
	grid := make([][]*plot.Plot, (len(names)+cols-1)/cols)
	for i, tr := range names {
		p := plot.New()
		p.Title.Text = tr
		p.X.Label.Text = "cache size (entries)"
		p.Y.Label.Text = "hit ratio %"
		p.X.Scale = plot.LogScale{}
		p.X.Tick.Marker = plot.LogTicks{Prec: -1}
		p.Legend.Top, p.Legend.Left = true, true
		p.Legend.TextStyle.Font.Size = vg.Points(8)
		n := 0
		for _, r := range rows {
			if r.trace != tr {
				continue
			}
			pts := make(plotter.XYs, len(r.ratios))
			for j, v := range r.ratios {
				pts[j] = plotter.XY{X: float64(r.sizes[j]), Y: 100 * v}
			}
			l, sc, err := plotter.NewLinePoints(pts)
			must(err)
			l.Color, sc.Color = plotutil.Color(n), plotutil.Color(n)
			sc.Shape = plotutil.Shape(n)
			if r.peer == "optimal" {
				l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
			}
			if r.peer == "memo-tinylfu" {
				l.Width = vg.Points(2)
			}
			p.Add(l, sc)
			p.Legend.Add(r.peer, l, sc)
			n++
		}
		p.Y.Min, p.Y.Max = 0, 100
		grid[i/cols] = append(grid[i/cols], p)
	}
	for len(grid[len(grid)-1]) < cols {
		grid[len(grid)-1] = append(grid[len(grid)-1], nil)
	}
	img := newSVG(15*vg.Inch, 4.5*vg.Inch*vg.Length(len(grid)))
	tiles := draw.Tiles{Rows: len(grid), Cols: cols, PadX: vg.Millimeter * 8, PadY: vg.Millimeter * 8,
		PadTop: vg.Millimeter * 3, PadBottom: vg.Millimeter * 3, PadLeft: vg.Millimeter * 3, PadRight: vg.Millimeter * 3}
	canvases := plot.Align(grid, tiles, img.canvas())
	for i := range grid {
		for j, p := range grid[i] {
			if p != nil {
				p.Draw(canvases[i][j])
			}
		}
	}
	img.save(path)
}
