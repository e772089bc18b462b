package telemetry

import (
	"context"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// TestProvider records spans in memory, for tests that check what a trace looks like.
type TestProvider struct {
	*sdktrace.TracerProvider
	Exporter *tracetest.InMemoryExporter
}

// NewTestProvider installs an in-memory tracer provider and the W3C propagator as the globals. Build
// gRPC servers and clients after calling it.
func NewTestProvider() *TestProvider {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	return &TestProvider{TracerProvider: tp, Exporter: exp}
}

// Spans returns the spans ended so far.
func (p *TestProvider) Spans() tracetest.SpanStubs {
	_ = p.ForceFlush(context.Background())
	return p.Exporter.GetSpans()
}
