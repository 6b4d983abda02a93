// Package tracing exports the gateway's own spans to an OpenTelemetry
// collector over OTLP/HTTP, as the config document's tracing section asks.
//
// The data plane decides sampling and hands over one dataplane.SpanRecord
// per sampled request; Exporter turns it into an SDK span with exactly the
// trace id, span id and parent id the gateway used on the wire, plus a
// child span for each timed policy and the upstream exchange, and queues
// them in a batch span processor. Exporting never blocks a request: when
// the queue is full, spans are dropped.
package tracing

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"

	"github.com/tollgate/tollgate/dataplane"
	"github.com/tollgate/tollgate/store"
)

// Options configures an Exporter. Every zero value means the documented
// default.
type Options struct {
	// NodeID is the service.instance.id resource attribute.
	NodeID string
	// Logger receives configuration changes and export failures. Nil
	// means slog.Default().
	Logger *slog.Logger
	// QueueSize bounds the spans waiting for export; beyond it new spans
	// are dropped (default 4096).
	QueueSize int
	// BatchTimeout is the longest a span waits before its batch is sent
	// (default 1s).
	BatchTimeout time.Duration
	// ShutdownTimeout bounds flushing the spans of a replaced or closed
	// configuration (default 5s).
	ShutdownTimeout time.Duration
}

func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.QueueSize <= 0 {
		o.QueueSize = 4096
	}
	if o.BatchTimeout <= 0 {
		o.BatchTimeout = time.Second
	}
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = 5 * time.Second
	}
	return o
}

// Exporter is a dataplane.SpanRecorder that exports spans under the
// current tracing section, and drops them while there is none. Create it
// with New; it is safe for concurrent use.
type Exporter struct {
	opts Options
	log  *slog.Logger
	cur  atomic.Pointer[provider] // nil while tracing is off

	mu       sync.Mutex // serialises Update and Close
	section  *store.Tracing
	closed   bool
	retiring sync.WaitGroup // shutdowns of replaced providers
}

var _ dataplane.SpanRecorder = (*Exporter)(nil)

// New returns an Exporter with tracing off until the first Update. The
// SDK reports failed exports through OpenTelemetry's process-wide error
// handler: New points it at opts.Logger (the last Exporter's wins).
func New(opts Options) *Exporter {
	opts = opts.withDefaults()
	log := opts.Logger
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) { log.Warn("span export failed", "err", err) }))
	return &Exporter{opts: opts, log: log}
}

// Update applies a config's tracing section (nil turns export off). An
// unchanged section keeps the running provider; a changed one replaces
// it, and the old one flushes and shuts down in the background. On error
// the previous configuration stays.
func (e *Exporter) Update(section *store.Tracing) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed || reflect.DeepEqual(section, e.section) {
		return nil
	}
	var next *provider
	if section != nil {
		var err error
		if next, err = newProvider(section, e.opts); err != nil {
			return fmt.Errorf("tracing: %w", err)
		}
	}
	e.section = section
	e.retire(e.cur.Swap(next))
	if section == nil {
		e.log.Info("span export off")
	} else {
		e.log.Info("span export on", "endpoint", section.TracesURL(), "service", section.Service(),
			"sample_ratio", section.Ratio())
	}
	return nil
}

// retire shuts p down in the background, bounded by ShutdownTimeout.
func (e *Exporter) retire(p *provider) {
	if p == nil {
		return
	}
	e.retiring.Add(1)
	go func() {
		defer e.retiring.Done()
		ctx, cancel := context.WithTimeout(context.Background(), e.opts.ShutdownTimeout)
		defer cancel()
		if err := p.shutdown(ctx); err != nil {
			e.log.Warn("replaced span exporter did not shut down cleanly", "err", err)
		}
	}()
}

// Record exports rec under the current configuration; it implements
// dataplane.SpanRecorder and never blocks.
func (e *Exporter) Record(rec *dataplane.SpanRecord) {
	if p := e.cur.Load(); p != nil {
		p.record(rec)
	}
}

// Close turns export off, flushes what is queued (within ctx and
// ShutdownTimeout) and waits for replaced providers to finish. Later
// Updates do nothing.
func (e *Exporter) Close(ctx context.Context) error {
	e.mu.Lock()
	e.closed = true
	p := e.cur.Swap(nil)
	e.mu.Unlock()
	var err error
	if p != nil {
		ctx, cancel := context.WithTimeout(ctx, e.opts.ShutdownTimeout)
		defer cancel()
		if err = p.shutdown(ctx); err != nil {
			err = fmt.Errorf("tracing: shut down: %w", err)
		}
	}
	e.retiring.Wait()
	return err
}
