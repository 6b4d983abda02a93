package chaos

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"
)

// Run starts the target, runs load, writes and faults for cfg.Duration,
// checks the invariants and writes the report files to cfg.OutDir. It
// returns the report even when invariants fail (see Report.Failed); an
// error means the run itself could not be carried out.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	c := cfg.withDefaults()
	if err := c.validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(c.OutDir, 0o755); err != nil {
		return nil, fmt.Errorf("out dir: %w", err)
	}
	sched := c.Schedule
	if sched == nil {
		sched = NewSchedule(c.Seed, c.Duration, c.Nodes, c.Faults)
	}
	target, err := newTarget(&c)
	if err != nil {
		return nil, err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 60*time.Second)
		defer cancel()
		if err := target.Close(cctx); err != nil {
			c.Logger.Warn("closing the target", "err", err)
		}
	}()
	fmt.Fprintf(c.Progress, "chaos: starting %s\n", target.Name())
	sctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	if err := target.Start(sctx); err != nil {
		return nil, fmt.Errorf("start %s: %w", target.Name(), err)
	}
	r := &runner{cfg: c, sched: sched, target: target, nodes: target.Nodes(), client: newAdminClient(c.AdminToken)}
	defer r.client.close()
	return r.run(ctx)
}

// newTarget builds the local or compose target of c.
func newTarget(c *Config) (Target, error) {
	wantPartition := slices.Contains(c.Faults, FaultPartition)
	if c.Compose {
		return newComposeTarget(c.ComposeFile, c.ComposeProject, c.OutDir, c.AdminToken, c.Logger)
	}
	dir, err := os.MkdirTemp("", "tollgate-chaos-")
	if err != nil {
		return nil, fmt.Errorf("work dir: %w", err)
	}
	t, err := newLocalTarget(c.Binary, dir, c.OutDir, c.Nodes, wantPartition, c.Logger)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return t, nil
}

// runner is one run in progress.
type runner struct {
	cfg    Config
	sched  *Schedule
	target Target
	nodes  []Node
	client *adminClient

	start    time.Time
	coll     *collector
	obs      *observer
	writes   *writer
	inj      *injector
	load     *loadGen
	baseV    uint64
	baseMark string
}

func (r *runner) run(ctx context.Context) (*Report, error) {
	docs := docBuilder{upstream: r.target.UpstreamURL(), rateLimit: r.cfg.RateLimit}
	if err := r.writeBase(ctx, docs); err != nil {
		return nil, err
	}
	r.start = time.Now()
	r.coll = newCollector(r.start)
	r.obs = newObserver(r.nodes, r.cfg.AdminToken, r.start)
	r.writes = newWriter(r.nodes, r.cfg.AdminToken, docs, r.start)
	r.writes.nextID.Store(1)
	r.load = newLoadGen(r.nodes, r.cfg.Rate, r.cfg.RequestTimeout, r.cfg.RateLimit > 0, r.target.PortsProxied())
	r.inj = &injector{target: r.target, nodes: r.nodes, load: r.load, writes: r.writes, client: r.client,
		start: r.start, seed: r.sched.Seed, log: r.cfg.Logger}

	obsCtx, stopObs := context.WithCancel(ctx)
	defer stopObs()
	var bg sync.WaitGroup
	bg.Go(func() { r.obs.run(obsCtx) })
	loadDone := make(chan struct{})
	go func() { r.load.run(ctx, r.cfg.Duration, r.coll.add); close(loadDone) }()
	bg.Go(func() { r.progress(obsCtx) })

	r.chaosPhase(ctx)
	final := r.measureConvergence(ctx)
	r.finalReads(ctx)
	select {
	case <-loadDone:
	case <-ctx.Done():
		<-loadDone
	}
	stopObs()
	bg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("chaos run interrupted: %w", err)
	}
	return r.report(ctx, final)
}

// writeBase writes the run's first document, marker 0, and waits until
// every node serves it.
func (r *runner) writeBase(ctx context.Context, docs docBuilder) error {
	r.baseMark = markerName(0)
	doc := docs.build(r.baseMark)
	err := pollUntil(ctx, 60*time.Second, 200*time.Millisecond, func() bool {
		res := r.client.putConfig(ctx, r.nodes[0], doc, 10*time.Second)
		if res.Err != nil {
			r.cfg.Logger.Info("base config not written yet", "err", res.Err)
			if res.Status == 400 {
				return false
			}
		}
		r.baseV = res.Version
		return res.Err == nil
	})
	if err != nil {
		return fmt.Errorf("%w: write the base config: %w", errNotReady, err)
	}
	err = pollUntil(ctx, 30*time.Second, 50*time.Millisecond, func() bool {
		for _, n := range r.nodes {
			s, err := r.client.status(ctx, n, time.Second)
			if err != nil || s.version() < r.baseV {
				return false
			}
		}
		return true
	})
	if err != nil {
		return fmt.Errorf("%w: nodes serving the base config: %w", errNotReady, err)
	}
	return nil
}

// chaosPhase runs writers and the fault schedule until the faults end.
func (r *runner) chaosPhase(ctx context.Context) {
	stopWrites, cancel := context.WithDeadline(ctx, r.start.Add(r.sched.FaultsEnd))
	defer cancel()
	var wg sync.WaitGroup
	for k := range r.cfg.Writers {
		rng := rand.New(rand.NewPCG(uint64(r.sched.Seed), uint64(1000+k)))
		wg.Go(func() { r.writes.loop(ctx, stopWrites, rng, r.cfg.WriteInterval) })
	}
	r.inj.run(ctx, r.sched)
	sleepUntil(ctx, r.start.Add(r.sched.FaultsEnd))
	cancel()
	wg.Wait()
}

// measureConvergence waits for every node to serve one same version and
// reports how long that took from now (faults and writes have stopped).
func (r *runner) measureConvergence(ctx context.Context) FinalConvergence {
	from := time.Now()
	f := FinalConvergence{Versions: map[string]uint64{}}
	_ = pollUntil(ctx, r.cfg.ConvergeWithin+10*time.Second, 20*time.Millisecond, func() bool {
		clear(f.Versions)
		var first uint64
		same := true
		for i, n := range r.nodes {
			s, err := r.client.status(ctx, n, time.Second)
			if err != nil {
				same = false
				continue
			}
			f.Versions[n.ID] = s.version()
			if i == 0 {
				first = s.version()
			}
			same = same && s.version() == first
		}
		f.Converged, f.Version = same, first
		return same
	})
	f.Took = time.Since(from)
	return f
}

// finalReads reads the config from every node once the run is over.
func (r *runner) finalReads(ctx context.Context) {
	for i := range r.nodes {
		r.writes.read(ctx, i, false, "final")
	}
	r.writes.read(ctx, 0, true, "final")
}

// report gathers the evidence, checks it and writes the report files.
func (r *runner) report(ctx context.Context, final FinalConvergence) (*Report, error) {
	buckets, totals, failures, windows := r.coll.snapshot(int(r.cfg.Duration / time.Second))
	rounds, changes := r.obs.history()
	_, events := r.inj.status()
	writes, reads := r.writes.records()
	kept, fromHistory, source, err := keptVersions(ctx, r.client, r.nodes)
	if err != nil {
		return nil, err
	}
	ev := &Evidence{BaseVersion: r.baseV, BaseMarker: r.baseMark, Writes: writes, Reads: reads,
		Kept: kept, KeptFromHistory: fromHistory, KeptSource: source, Final: final,
		ConvergeWithin: r.cfg.ConvergeWithin, Failures: failures,
		Cuts:      cutInstants(events, r.target.PartitionHidesNode()),
		Paused:    faultSpans(events, "pause", "resume", r.cfg.Duration),
		RateLimit: r.cfg.RateLimit, AdmitTolerance: r.cfg.AdmitTolerance, Windows: windows,
		Started: r.start, Nodes: len(r.nodes), Isolations: isolationSpans(events, r.cfg.Duration),
		VisualizeTo: filepath.Join(r.cfg.OutDir, "linearizability.html")}
	rep := &Report{Target: r.target.Name(), Seed: r.sched.Seed, Nodes: r.nodes, Rate: r.cfg.Rate,
		Duration: r.cfg.Duration, Faults: r.cfg.Faults, Started: r.start, Schedule: r.sched, Events: events,
		Requests: totals, Buckets: buckets, LeaderChanges: leaderChanges(rounds, events, writes),
		Writes: writes, Reads: reads, WriteConvergence: writeConvergence(writes, changes, events),
		FinalConvergence: final, KeptSource: source, RateLimit: r.cfg.RateLimit, RateWindows: windows,
		Failures: failures[:min(len(failures), 1000)], Invariants: Check(ev), Files: map[string]string{}}
	return rep, r.writeFiles(rep)
}

func (r *runner) writeFiles(rep *Report) error {
	png := filepath.Join(r.cfg.OutDir, "timeline.png")
	js := filepath.Join(r.cfg.OutDir, "report.json")
	rep.Files["timeline"], rep.Files["json"] = png, js
	rep.Files["logs"] = filepath.Join(r.cfg.OutDir, "*.log")
	var errs []error
	if err := writeTimeline(png, rep); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, rep.WriteJSON(js))
	return errors.Join(errs...)
}
