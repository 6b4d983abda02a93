package chaos

import (
	"reflect"
	"testing"
	"time"
)

func TestScheduleReplaysExactly(t *testing.T) {
	faults := AllFaults()
	a := NewSchedule(42, 60*time.Second, 3, faults)
	b := NewSchedule(42, 60*time.Second, 3, faults)
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("same seed, different schedules:\n%s\n%s", a, b)
	}
	if len(a.Episodes) < 5 {
		t.Fatalf("60 s run drew only %d episodes:\n%s", len(a.Episodes), a)
	}
	if c := NewSchedule(43, 60*time.Second, 3, faults); reflect.DeepEqual(a.Episodes, c.Episodes) {
		t.Fatalf("seeds 42 and 43 drew the same schedule:\n%s", a)
	}
}

func TestScheduleKeepsEpisodesApartAndInBounds(t *testing.T) {
	for seed := range int64(50) {
		s := NewSchedule(seed, 60*time.Second, 3, AllFaults())
		end := s.Warmup
		kinds := map[FaultKind]bool{}
		for _, e := range s.Episodes {
			kinds[e.Kind] = true
			if e.At < end {
				t.Fatalf("seed %d: episode at %s overlaps the one before, which ends at %s", seed, e.At, end)
			}
			if e.Node < LeaderNode || e.Node >= 3 {
				t.Fatalf("seed %d: node %d out of range", seed, e.Node)
			}
			end = e.At + e.Hold
			if end+time.Second > s.FaultsEnd {
				t.Fatalf("seed %d: episode ends at %s, after the faults end at %s", seed, end, s.FaultsEnd)
			}
		}
		if seed == 0 && len(kinds) < 3 {
			t.Fatalf("seed 0 drew only %v", kinds)
		}
	}
}

func TestScheduleHonoursFaultList(t *testing.T) {
	s := NewSchedule(7, 60*time.Second, 3, []FaultKind{FaultPause})
	for _, e := range s.Episodes {
		if e.Kind != FaultPause {
			t.Fatalf("drew %s from a list of pause only", e.Kind)
		}
	}
	if s := NewSchedule(7, 60*time.Second, 3, nil); len(s.Episodes) != 0 {
		t.Fatalf("no faults asked, %d episodes drawn", len(s.Episodes))
	}
}

func TestParseFaults(t *testing.T) {
	got, err := ParseFaults("kill, pause,kill,leader-write")
	if err != nil || !reflect.DeepEqual(got, []FaultKind{FaultKill, FaultPause, FaultLeaderWrite}) {
		t.Fatalf("ParseFaults: %v %v", got, err)
	}
	if _, err := ParseFaults("kill,explode"); err == nil {
		t.Fatal("an unknown fault kind was accepted")
	}
}

func TestParsePlan(t *testing.T) {
	s, err := ParsePlan("kill:leader@5s+4s, partition:follower@13s+4s,restart:2@21s,leader-write:leader@25s+2s~5ms", 35*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	want := []Episode{
		{Kind: FaultKill, Node: LeaderNode, At: 5 * time.Second, Hold: 4 * time.Second},
		{Kind: FaultPartition, Node: FollowerNode, At: 13 * time.Second, Hold: 4 * time.Second},
		{Kind: FaultRestart, Node: 1, At: 21 * time.Second},
		{Kind: FaultLeaderWrite, Node: LeaderNode, At: 25 * time.Second, Hold: 2 * time.Second, Delay: 5 * time.Millisecond},
	}
	if !reflect.DeepEqual(s.Episodes, want) {
		t.Fatalf("episodes %+v, want %+v", s.Episodes, want)
	}
	if s.FaultsEnd < 28*time.Second || s.FaultsEnd > 35*time.Second {
		t.Fatalf("faults end at %s", s.FaultsEnd)
	}
	for _, bad := range []string{"kill", "kill:leader", "explode:1@1s", "kill:0@1s", "kill:leader@soon"} {
		if _, err := ParsePlan(bad, time.Minute); err == nil {
			t.Errorf("plan %q accepted", bad)
		}
	}
}
