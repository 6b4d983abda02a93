package chaos

import (
	"context"
	"flag"
	"fmt"
	"image/png"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// binary is the tollgate binary the real runs start, built by TestMain.
var binary string

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "tollgate-chaos-bin")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "tollgate")
	build := exec.Command("go", "build", "-o", binary, "../cmd/tollgate")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build tollgate: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// TestShortRunPassesInvariants runs the harness for real: three local
// nodes under load, the leader killed and revived, a follower restarted,
// config writes throughout; every invariant must hold.
func TestShortRunPassesInvariants(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real cluster")
	}
	out := t.TempDir()
	// The leader stays down 4 s, well past an election, so that a leader
	// change is seen even on a busy machine.
	sched := &Schedule{Seed: 1, Duration: 14 * time.Second, Warmup: 2 * time.Second, FaultsEnd: 11 * time.Second,
		Episodes: []Episode{
			{Kind: FaultKill, Node: LeaderNode, At: 2 * time.Second, Hold: 4 * time.Second},
			{Kind: FaultRestart, Node: 1, At: 8 * time.Second},
		}}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rep, err := Run(ctx, Config{
		Nodes: 3, Duration: sched.Duration, Rate: 100, Seed: 1, Faults: []FaultKind{FaultKill, FaultRestart},
		Schedule: sched, OutDir: out, Binary: binary,
		Progress: t.Output(), Logger: slog.New(slog.NewTextHandler(t.Output(), nil)),
	})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	var summary strings.Builder
	rep.WriteSummary(&summary)
	t.Log("\n" + summary.String())
	for _, inv := range rep.Invariants {
		if inv.Verdict == VerdictFail || inv.Verdict == VerdictInconclusive {
			t.Errorf("%s: %s: %s", inv.Name, inv.Verdict, inv.Detail)
		}
	}
	assertActions(t, rep.Events, "kill", "revive", "restart", "started")
	if rep.Requests.Sent < 1000 || rep.Requests.OK == 0 {
		t.Errorf("load: %+v", rep.Requests)
	}
	if len(rep.LeaderChanges) == 0 {
		t.Errorf("the leader was killed but no leader change was seen")
	}
	acked := 0
	for _, w := range rep.Writes {
		if w.Acked {
			acked++
		}
	}
	if acked < 5 {
		t.Errorf("only %d acknowledged writes", acked)
	}
	assertFiles(t, rep)
}

func assertActions(t *testing.T, events []FaultEvent, want ...string) {
	t.Helper()
	seen := map[string]bool{}
	for _, ev := range events {
		if ev.Error != "" {
			t.Errorf("fault %s %s on %s failed: %s", ev.Kind, ev.Action, ev.Node, ev.Error)
		}
		seen[ev.Action] = true
	}
	for _, a := range want {
		if !seen[a] {
			t.Errorf("no %q action among %+v", a, events)
		}
	}
}

func assertFiles(t *testing.T, rep *Report) {
	t.Helper()
	f, err := os.Open(rep.Files["timeline"])
	if err != nil {
		t.Fatalf("timeline: %v", err)
	}
	defer f.Close()
	if img, err := png.Decode(f); err != nil || img.Bounds().Dx() < 800 {
		t.Errorf("timeline.png: %v", err)
	}
	if b, err := os.ReadFile(rep.Files["json"]); err != nil || !strings.Contains(string(b), `"invariants"`) {
		t.Errorf("report.json: %v", err)
	}
}
