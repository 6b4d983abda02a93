package tracing

import (
	"context"
	"fmt"
	"os"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/tollgate/tollgate/store"
)

// tracerName is the instrumentation scope of the gateway's spans.
const tracerName = "github.com/tollgate/tollgate"

// exportTimeout bounds one export request to the collector.
const exportTimeout = 10 * time.Second

// provider is one tracing configuration: an SDK TracerProvider exporting
// through OTLP/HTTP with a batch span processor.
type provider struct {
	tp     *sdktrace.TracerProvider
	tracer trace.Tracer
}

// newProvider builds the provider of a tracing section. Nothing connects
// before the first export.
func newProvider(t *store.Tracing, opts Options) (*provider, error) {
	exp, err := otlptracehttp.New(context.Background(),
		otlptracehttp.WithEndpointURL(t.TracesURL()),
		otlptracehttp.WithHeaders(t.Headers),
		otlptracehttp.WithTimeout(exportTimeout),
		otlptracehttp.WithRetry(otlptracehttp.RetryConfig{Enabled: true,
			InitialInterval: 500 * time.Millisecond, MaxInterval: 5 * time.Second, MaxElapsedTime: 30 * time.Second}))
	if err != nil {
		return nil, fmt.Errorf("otlp exporter for %s: %w", t.TracesURL(), err)
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp, sdktrace.WithMaxQueueSize(opts.QueueSize),
			sdktrace.WithBatchTimeout(opts.BatchTimeout), sdktrace.WithExportTimeout(exportTimeout)),
		sdktrace.WithResource(resource.NewSchemaless(resourceAttributes(t, opts.NodeID)...)),
		sdktrace.WithSampler(sdktrace.AlwaysSample()), // the data plane samples
		sdktrace.WithIDGenerator(wireIDs{}),
	)
	return &provider{tp: tp, tracer: tp.Tracer(tracerName)}, nil
}

// resourceAttributes describe the node: service.name, service.instance.id
// (the node id) and host.name.
func resourceAttributes(t *store.Tracing, nodeID string) []attribute.KeyValue {
	attrs := []attribute.KeyValue{attribute.String("service.name", t.Service())}
	if nodeID != "" {
		attrs = append(attrs, attribute.String("service.instance.id", nodeID))
	}
	if host, err := os.Hostname(); err == nil {
		attrs = append(attrs, attribute.String("host.name", host))
	}
	return attrs
}

// shutdown flushes the queued spans and stops the exporter.
func (p *provider) shutdown(ctx context.Context) error {
	return p.tp.Shutdown(ctx)
}
