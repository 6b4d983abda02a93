//go:build linux

package dataplane

import (
	"testing"

	"github.com/tollgate/tollgate/store"
)

// TestMirrorCopyWhenPrimaryDown: a body the primary never read is not
// copied (startMirror: "a body not read to the end is not copied"). The
// goroutine server drops the copy when the primary is down; the loops
// (mirrorHeld) send the shadow the whole request anyway.
func TestMirrorCopyWhenPrimaryDown(t *testing.T) {
	counts := map[string]int64{}
	onEngines(t, func(t *testing.T, engine string) {
		shadow := newBodyRecorder(t, "shadow")
		gw := startGateway(t, mirrorConfig("http://"+freePort(t), shadow.url, store.Mirror{}), Options{Engine: engine})
		cc := confDial(t, gw.addr)
		if resp, _ := cc.do(t, "POST", confPost("/m", "hello")); resp.StatusCode != 502 {
			t.Fatalf("status %d, want 502", resp.StatusCode)
		}
		gw.mirrors.Wait() // the copy, if any, is done
		counts[engine] = shadow.count.Load()
	})
	if counts[EngineGoroutine] != counts[EngineEpoll] {
		t.Errorf("the shadow got %d whole copies on the goroutine server, %d on the loops", counts[EngineGoroutine], counts[EngineEpoll])
	}
}

// TestMirrorDroppedCopyHealth: a copy dropped because the primary never
// read the body says nothing about the shadow.
func TestMirrorDroppedCopyHealth(t *testing.T) {
	onEngines(t, func(t *testing.T, engine string) {
		shadow := newBodyRecorder(t, "shadow")
		cfg := mirrorConfig("http://"+freePort(t), shadow.url, store.Mirror{})
		cfg.Services[1].HealthChecks = &store.HealthChecks{Passive: &store.PassiveHealthCheck{ConsecutiveFailures: 100}}
		gw := startGateway(t, cfg, Options{Engine: engine})
		cc := confDial(t, gw.addr)
		for range 3 {
			if resp, _ := cc.do(t, "POST", confPost("/m", "hello")); resp.StatusCode != 502 {
				t.Fatalf("status %d, want 502", resp.StatusCode)
			}
		}
		gw.mirrors.Wait()
		var sh *upstream
		for _, u := range gw.snap.Load().router.services {
			if u.name == "shadow" {
				sh = u
			}
		}
		if f := sh.targets[0].failures.Load(); f != 0 {
			t.Errorf("the healthy shadow has %d failures", f)
		}
	})
}
