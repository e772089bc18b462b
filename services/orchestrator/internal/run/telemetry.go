package run

import (
	"context"
	"errors"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

var tracer = otel.Tracer("scoutbridge/orchestrator")

type traceStartOption = trace.SpanStartOption

func withAttributes(kv ...attribute.KeyValue) traceStartOption { return trace.WithAttributes(kv...) }

// metrics are the orchestrator's OpenTelemetry instruments.
type metrics struct {
	runs    metric.Int64Counter
	images  metric.Int64Counter
	scan    metric.Float64Histogram
	finding metric.Int64Counter
	outbox  metric.Int64ObservableGauge
	depth   func() (int64, bool)
}

func newMetrics() (*metrics, error) {
	m := otel.Meter("scoutbridge/orchestrator")
	var errs []error
	var mm metrics
	var err error
	mm.runs, err = m.Int64Counter("scoutbridge.orchestrator.runs", metric.WithDescription("Runs finished, by outcome."), metric.WithUnit("{run}"))
	errs = append(errs, err)
	mm.images, err = m.Int64Counter("scoutbridge.orchestrator.images", metric.WithDescription("Images handled, by outcome (ingested, skipped, failed)."), metric.WithUnit("{image}"))
	errs = append(errs, err)
	mm.scan, err = m.Float64Histogram("scoutbridge.orchestrator.scan.duration", metric.WithDescription("Duration of ScanImage calls."), metric.WithUnit("s"),
		metric.WithExplicitBucketBoundaries(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600))
	errs = append(errs, err)
	mm.finding, err = m.Int64Counter("scoutbridge.orchestrator.findings", metric.WithDescription("Findings ingested, by normalized risk level."), metric.WithUnit("{finding}"))
	errs = append(errs, err)
	return &mm, errors.Join(errs...)
}

// observeOutbox registers the outbox depth gauge, read from depth (the last polled value).
func (m *metrics) observeOutbox(depth func() (int64, bool)) error {
	var err error
	m.outbox, err = otel.Meter("scoutbridge/orchestrator").Int64ObservableGauge("scoutbridge.ingest.outbox.depth",
		metric.WithDescription("Event deliveries waiting in ingest's outbox (all sinks), polled with GetIngestStats."),
		metric.WithUnit("{event}"),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			if v, ok := depth(); ok {
				o.Observe(v)
			}
			return nil
		}))
	return err
}

func (m *metrics) run(ctx context.Context, r *Run) {
	m.runs.Add(ctx, 1, metric.WithAttributes(attribute.String("outcome", outcome(r))))
}

func outcome(r *Run) string {
	switch r.State {
	case StateSucceeded:
		return "succeeded"
	case StatePartial:
		return "partially_succeeded"
	case StateFailed:
		return "failed"
	case StateCancelled:
		return "cancelled"
	}
	return "unknown"
}

func (m *metrics) image(ctx context.Context, outcome string) {
	m.images.Add(ctx, 1, metric.WithAttributes(attribute.String("outcome", outcome)))
}

func (m *metrics) scanDuration(ctx context.Context, d time.Duration, err error) {
	result := "ok"
	if err != nil {
		result = "error"
	}
	m.scan.Record(ctx, d.Seconds(), metric.WithAttributes(attribute.String("result", result)))
}

func (m *metrics) findings(ctx context.Context, f FindingCounts) {
	for level, n := range map[string]int64{"CRITICAL": f.Critical, "HIGH": f.High, "MEDIUM": f.Medium, "LOW": f.Low, "NONE": f.None} {
		if n > 0 {
			m.finding.Add(ctx, n, metric.WithAttributes(attribute.String("risk_level", level)))
		}
	}
}
