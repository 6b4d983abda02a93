package chaos

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"strings"
)

// Timeline geometry and colours.
const (
	plotW, plotH        = 1400, 760
	plotLeft, plotRight = 90, 30
	labelScale          = 2
)

// Colours of the timeline; functions, so the package holds no mutable state.
func colBG() color.Color    { return color.RGBA{255, 255, 255, 255} }
func colAxis() color.Color  { return color.RGBA{60, 60, 60, 255} }
func colGrid() color.Color  { return color.RGBA{228, 228, 228, 255} }
func colSent() color.Color  { return color.RGBA{150, 150, 150, 255} }
func colOK() color.Color    { return color.RGBA{30, 150, 60, 255} }
func colErr() color.Color   { return color.RGBA{210, 30, 30, 255} }
func colRetry() color.Color { return color.RGBA{240, 150, 0, 255} }
func colP99() color.Color   { return color.RGBA{40, 90, 200, 255} }
func colMax() color.Color   { return color.RGBA{160, 190, 240, 255} }

// faultColor is the band colour of a fault kind (translucent).
func faultColor(k FaultKind) color.NRGBA {
	switch k {
	case FaultKill:
		return color.NRGBA{220, 40, 40, 50}
	case FaultPause:
		return color.NRGBA{240, 160, 0, 60}
	case FaultPartition:
		return color.NRGBA{140, 60, 200, 50}
	case FaultRestart:
		return color.NRGBA{30, 100, 220, 90}
	case FaultLeaderWrite:
		return color.NRGBA{140, 0, 0, 60}
	}
	return color.NRGBA{0, 0, 0, 40}
}

// panel is one chart area of the timeline.
type panel struct {
	top, bottom int
	max         float64
	title       string
}

func (p panel) y(v float64) int {
	if p.max <= 0 {
		return p.bottom
	}
	return p.bottom - int(math.Round(v/p.max*float64(p.bottom-p.top)))
}

// timeline draws the report's throughput, errors, latency, faults and
// leader changes over the run.
type timeline struct {
	c   canvas
	rep *Report
	dur float64 // seconds on the x axis
}

// writeTimeline renders the report's timeline as a PNG at path.
func writeTimeline(path string, rep *Report) error {
	t := &timeline{c: newCanvas(plotW, plotH, colBG()), rep: rep, dur: math.Max(rep.Duration.Seconds(), 1)}
	t.draw()
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("timeline: %w", err)
	}
	if err := png.Encode(f, t.c.RGBA); err != nil {
		f.Close()
		return fmt.Errorf("timeline: encode: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("timeline: %w", err)
	}
	return nil
}

func (t *timeline) x(sec float64) int {
	return plotLeft + int(math.Round(sec/t.dur*float64(plotW-plotLeft-plotRight)))
}

func (t *timeline) draw() {
	rep := t.rep
	verdict := "PASS"
	if rep.Failed() {
		verdict = "FAIL"
	}
	t.c.text(plotLeft, 12, fmt.Sprintf("TOLLGATE CHAOS: %s, %s AT %d REQ/S, SEED %d: %s",
		rep.Target, rep.Duration, rep.Rate, rep.Seed, verdict), colAxis(), labelScale)
	var sentMax, errMax, latMax float64
	for _, b := range rep.Buckets {
		sentMax = math.Max(sentMax, float64(b.Sent))
		errMax = math.Max(errMax, float64(max(b.Failed, b.Retried)))
		latMax = math.Max(latMax, float64(b.Max))
	}
	thr := panel{top: 80, bottom: 340, max: niceMax(sentMax * 1.1), title: "REQ/S: SENT (GREY), OK (GREEN)"}
	errs := panel{top: 390, bottom: 500, max: niceMax(math.Max(errMax, 1)), title: "FAILED/S (RED), RETRIED/S (ORANGE)"}
	lat := panel{top: 550, bottom: 660, max: niceMax(math.Max(latMax, 1)), title: "LATENCY MS: P99 (BLUE), MAX (LIGHT)"}
	t.faultBands(36, lat.bottom)
	for _, p := range []panel{thr, errs, lat} {
		t.axes(p)
	}
	t.series(thr, func(b Bucket) float64 { return float64(b.Sent) }, colSent())
	t.series(thr, func(b Bucket) float64 { return float64(b.OK) }, colOK())
	t.bars(errs, func(b Bucket) float64 { return float64(b.Retried) }, colRetry(), 0)
	t.bars(errs, func(b Bucket) float64 { return float64(b.Failed) }, colErr(), 1)
	t.counts(errs, func(b Bucket) int { return b.Failed }, colErr())
	t.series(lat, func(b Bucket) float64 { return float64(b.Max) }, colMax())
	t.series(lat, func(b Bucket) float64 { return float64(b.P99) }, colP99())
	t.leaders(thr)
	t.xAxis(lat.bottom)
	t.legend(lat.bottom + 50)
}

// axes draws a panel's frame, grid, y labels and title.
func (t *timeline) axes(p panel) {
	right := plotW - plotRight
	for k := 0; k <= 4; k++ {
		v := p.max * float64(k) / 4
		y := p.y(v)
		t.c.line(plotLeft, y, right, y, colGrid())
		lbl := fmtTick(v)
		t.c.text(plotLeft-8-textWidth(lbl, 1)*2, y-7, lbl, colAxis(), labelScale)
	}
	t.c.line(plotLeft, p.top, plotLeft, p.bottom, colAxis())
	t.c.line(plotLeft, p.bottom, right, p.bottom, colAxis())
	w := textWidth(p.title, labelScale)
	t.c.fill(image.Rect(plotLeft, p.top-20, plotLeft+w+8, p.top-2), colBG())
	t.c.text(plotLeft+4, p.top-18, p.title, colAxis(), labelScale)
}

func (t *timeline) series(p panel, val func(Bucket) float64, col color.Color) {
	prevX, prevY := -1, 0
	for _, b := range t.rep.Buckets {
		x, y := t.x(float64(b.Second)+0.5), p.y(val(b))
		if prevX >= 0 {
			t.c.thickLine(prevX, prevY, x, y, col)
		}
		prevX, prevY = x, y
	}
}

// bars draws one bar per second; slot 0 is the left half, 1 the right.
func (t *timeline) bars(p panel, val func(Bucket) float64, col color.Color, slot int) {
	for _, b := range t.rep.Buckets {
		v := val(b)
		if v <= 0 {
			continue
		}
		x0, x1 := t.x(float64(b.Second)), t.x(float64(b.Second+1))
		mid := (x0 + x1) / 2
		if slot == 0 {
			x1 = mid
		} else {
			x0 = mid
		}
		t.c.fill(image.Rect(x0, p.y(v), max(x1, x0+1), p.bottom), col)
	}
}

// counts writes each non-zero count above its second, so that a few
// failures stay visible next to many retries.
func (t *timeline) counts(p panel, val func(Bucket) int, col color.Color) {
	for _, b := range t.rep.Buckets {
		if n := val(b); n > 0 {
			x := t.x(float64(b.Second) + 0.5)
			y := min(p.y(float64(n)), p.bottom-3) - 10
			t.c.fill(image.Rect(x, p.y(float64(n)), x+3, p.bottom), col)
			t.c.text(x, y, fmt.Sprint(n), col, 1)
		}
	}
}

// faultBands shades each episode from its fault to its recovery and
// labels it above the panels.
func (t *timeline) faultBands(top, bottom int) {
	start := map[int]FaultEvent{}
	row := 0
	for _, ev := range t.rep.Events {
		switch ev.Action {
		case "kill", "pause", "partition", "restart":
			start[ev.Episode] = ev
			continue
		case "revive", "resume", "heal", "started":
		default:
			continue
		}
		s, ok := start[ev.Episode]
		if !ok {
			continue
		}
		x0, x1 := t.x(s.At.Seconds()), t.x(ev.At.Seconds())
		t.c.fill(image.Rect(x0, top, max(x1, x0+3), bottom), faultColor(s.Kind))
		lbl := s.Action + " " + strings.TrimPrefix(s.Node, "node")
		if s.Kind == FaultLeaderWrite {
			lbl = "lw-kill " + strings.TrimPrefix(s.Node, "node")
		}
		if s.WasLeader {
			lbl += "L"
		}
		t.c.text(x0+2, top+2+row*10, lbl, colAxis(), 1)
		row = (row + 1) % 2
	}
}

// leaders marks each leader change with a dashed line and the new leader.
func (t *timeline) leaders(p panel) {
	for _, lc := range t.rep.LeaderChanges {
		x := t.x(lc.At.Seconds())
		for y := p.top; y < p.bottom; y += 6 {
			t.c.line(x, y, x, min(y+3, p.bottom), colAxis())
		}
		t.c.text(x+3, p.bottom-12, "> "+strings.TrimPrefix(lc.To, "node"), colAxis(), 1)
	}
}

func (t *timeline) xAxis(y int) {
	step := 5.0
	if t.dur > 90 {
		step = 10
	}
	if t.dur > 300 {
		step = 60
	}
	for s := 0.0; s <= t.dur+1e-9; s += step {
		x := t.x(s)
		t.c.line(x, y, x, y+5, colAxis())
		lbl := fmt.Sprintf("%ds", int(s))
		t.c.text(x-textWidth(lbl, labelScale)/2, y+9, lbl, colAxis(), labelScale)
	}
}

func (t *timeline) legend(y int) {
	x := plotLeft
	for _, k := range AllFaults() {
		t.c.fill(image.Rect(x, y, x+22, y+14), faultColor(k))
		x += 28
		x += t.c.text(x, y, string(k), colAxis(), labelScale) + 24
	}
	t.c.text(x, y, "- - > N: NEW LEADER N;  L: WAS LEADER", colAxis(), labelScale)
}

// niceMax rounds v up to 1, 2 or 5 times a power of ten.
func niceMax(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

func fmtTick(v float64) string {
	if v >= 10 || v == 0 || v == math.Trunc(v) {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.1f", v)
}
