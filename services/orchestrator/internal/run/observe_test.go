package run_test

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/trace"

	"github.com/scoutbridge/scoutbridge/pkg/testutil"

	"github.com/scoutbridge/scoutbridge/services/orchestrator/internal/peertest"
	"github.com/scoutbridge/scoutbridge/services/orchestrator/internal/run"
)

func TestOneTracePerRunWithAnImageSpanParentOfItsScanAndIngestCalls(t *testing.T) {
	h := newHarness(t, nil)
	for i := range 3 {
		h.peers.Discovery.AddImages(peertest.Image("acme/api", i, t0.Add(-time.Hour)))
	}
	r, _ := h.runToEnd(run.Request{})

	var runSpan trace.SpanContext
	images := map[trace.SpanID]bool{}
	spans := traces.Spans()
	for _, s := range spans {
		for _, a := range s.Attributes {
			if a.Key == "scoutbridge.run_id" && a.Value.AsString() == r.ID {
				if s.Name == "run" {
					runSpan = s.SpanContext
				} else {
					images[s.SpanContext.SpanID()] = true
				}
			}
		}
	}
	if !runSpan.IsValid() || len(images) != 3 {
		t.Fatalf("run span %v, %d image spans; want one run span and 3 image spans", runSpan.IsValid(), len(images))
	}
	children := map[string]int{}
	for _, s := range spans {
		if !images[s.Parent.SpanID()] {
			if images[s.SpanContext.SpanID()] && s.Parent.SpanID() != runSpan.SpanID() {
				t.Errorf("image span %s is not a child of the run span", s.Name)
			}
			continue
		}
		if s.SpanContext.TraceID() != runSpan.TraceID() {
			t.Errorf("span %s has trace %s, want the run's %s", s.Name, s.SpanContext.TraceID(), runSpan.TraceID())
		}
		children[s.Name]++
	}
	// The client spans of the calls each image span made; their server spans are their children in turn.
	if children["scoutbridge.scanner.v1.ScannerService/ScanImage"] != 3 || children["scoutbridge.ingest.v1.IngestService/IngestScan"] != 3 {
		t.Errorf("children of image spans: %v, want 3 ScanImage and 3 IngestScan client spans", children)
	}
	serverSpans := 0
	for _, s := range spans {
		if s.Name == "scoutbridge.scanner.v1.ScannerService/ScanImage" && s.SpanKind == trace.SpanKindServer && s.SpanContext.TraceID() == runSpan.TraceID() {
			serverSpans++
		}
	}
	if serverSpans != 3 {
		t.Errorf("%d scanner server spans in the run's trace, want 3 (the context must cross the call)", serverSpans)
	}
	// The notification that follows the run stays in its trace.
	testutil.Eventually(t, 5*time.Second, func() bool {
		for _, s := range traces.Spans() {
			if s.Name == "scoutbridge.triage.v1.TriageService/NotifyNewFindings" && s.SpanContext.TraceID() == runSpan.TraceID() {
				return true
			}
		}
		return false
	}, "no NotifyNewFindings span in the run's trace")
}

func TestWatchSendsASnapshotThenEveryEventUntilTheRunFinishes(t *testing.T) {
	h := newHarness(t, nil)
	ok := peertest.Image("acme/api", 1, t0.Add(-time.Hour))
	bad := peertest.Image("acme/api", 2, t0.Add(-time.Hour))
	h.peers.Discovery.SetImages(ok, bad)
	h.peers.Scanner.Fail(bad.Digest, 13 /* Internal */)
	h.peers.Scanner.Hold()
	r, err := h.o.Start(t.Context(), run.Request{})
	if err != nil {
		t.Fatal(err)
	}
	events := make(chan run.Event, 100)
	done := make(chan error, 1)
	go func() {
		done <- h.o.Watch(context.Background(), "", func(ev run.Event) error { events <- ev; return nil })
	}()
	first := <-events
	if first.Type != run.EventSnapshot || first.Run.ID != r.ID {
		t.Fatalf("first event %s for %s, want a snapshot of %s", first.Type, first.Run.ID, r.ID)
	}
	h.peers.Scanner.Release()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the watch did not end with the run")
	}
	close(events)
	seen := map[run.EventType]int{}
	var last run.Event
	for ev := range events {
		seen[ev.Type]++
		last = ev
	}
	if last.Type != run.EventRunFinished || last.Run.State != run.StatePartial || last.Run.Counts.Ingested != 1 {
		t.Errorf("last event %s state %s counts %+v", last.Type, last.Run.State, last.Run.Counts)
	}
	// Discovery may be quicker than the subscription; the image events cannot be.
	for _, typ := range []run.EventType{run.EventScanStarted, run.EventScanFinished, run.EventIngested, run.EventImageFailed} {
		if seen[typ] == 0 {
			t.Errorf("no %s event; saw %v", typ, seen)
		}
	}
	// A finished run's watch gives the snapshot and the final event.
	var after []run.Event
	if err := h.o.Watch(t.Context(), r.ID, func(ev run.Event) error { after = append(after, ev); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(after) != 2 || after[1].Type != run.EventRunFinished {
		t.Errorf("watching a finished run: %v", after)
	}
}

func TestFindingsAreCountedByRiskLevel(t *testing.T) {
	h := newHarness(t, nil)
	h.peers.Scanner.Findings = 10 // 2 of each level
	h.peers.Discovery.SetImages(peertest.Image("acme/api", 1, t0.Add(-time.Hour)), peertest.Image("acme/web", 1, t0.Add(-time.Hour)))
	r, imgs := h.runToEnd(run.Request{})
	f := r.Counts.Findings
	if f.Critical != 4 || f.High != 4 || f.Medium != 4 || f.Low != 4 || f.None != 4 || r.Counts.EventsStored != 22 {
		t.Errorf("findings %+v events %d, want 4 per level and 22 events", f, r.Counts.EventsStored)
	}
	if imgs[0].Findings.Total() != 10 {
		t.Errorf("image findings %d, want 10", imgs[0].Findings.Total())
	}
}

// sums adds up a counter's data points by the value of one attribute.
func sums(t *testing.T, name, key string) map[string]int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := metrics.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					v, _ := p.Attributes.Value(attribute.Key(key))
					out[v.Emit()] += p.Value
				}
			case metricdata.Gauge[int64]:
				for _, p := range d.DataPoints {
					out[""] = p.Value
				}
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					v, _ := p.Attributes.Value(attribute.Key(key))
					out[v.Emit()] += int64(p.Count)
				}
			}
		}
	}
	return out
}

func TestMetricsCountRunsImagesFindingsScansAndTheOutbox(t *testing.T) {
	h := newHarness(t, nil)
	h.peers.Scanner.Findings = 5
	bad := peertest.Image("metrics/app", 2, t0.Add(-time.Hour))
	h.peers.Discovery.SetImages(peertest.Image("metrics/app", 1, t0.Add(-time.Hour)), bad)
	h.peers.Scanner.Fail(bad.Digest, 13 /* Internal */)
	h.peers.Ingest.SetQueued(7)
	beforeRuns, beforeImages := sums(t, "scoutbridge.orchestrator.runs", "outcome"), sums(t, "scoutbridge.orchestrator.images", "outcome")
	beforeFindings, beforeScans := sums(t, "scoutbridge.orchestrator.findings", "risk_level"), sums(t, "scoutbridge.orchestrator.scan.duration", "result")

	h.runToEnd(run.Request{})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go func() { _ = h.o.PollOutbox(ctx, 10*time.Millisecond) }()

	if d := sums(t, "scoutbridge.orchestrator.runs", "outcome")["partially_succeeded"] - beforeRuns["partially_succeeded"]; d != 1 {
		t.Errorf("partially_succeeded runs +%d, want +1", d)
	}
	images := sums(t, "scoutbridge.orchestrator.images", "outcome")
	if images["ingested"]-beforeImages["ingested"] != 1 || images["failed"]-beforeImages["failed"] != 1 {
		t.Errorf("images %v (before %v), want +1 ingested, +1 failed", images, beforeImages)
	}
	if d := sums(t, "scoutbridge.orchestrator.findings", "risk_level")["CRITICAL"] - beforeFindings["CRITICAL"]; d != 1 {
		t.Errorf("critical findings +%d, want +1", d)
	}
	scans := sums(t, "scoutbridge.orchestrator.scan.duration", "result")
	if scans["ok"]-beforeScans["ok"] != 1 || scans["error"]-beforeScans["error"] != 1 {
		t.Errorf("scan durations %v (before %v), want one ok and one error", scans, beforeScans)
	}
	testutil.Eventually(t, 5*time.Second, func() bool {
		return sums(t, "scoutbridge.ingest.outbox.depth", "")[""] == 7
	}, "outbox depth gauge never showed 7")
}

func TestARunResumedAfterARestartContinuesItsTrace(t *testing.T) {
	h := newHarness(t, nil)
	for i := range 2 {
		h.peers.Discovery.AddImages(peertest.Image("trace/resumed", i, t0.Add(-time.Hour)))
	}
	h.peers.Scanner.Hold()
	r, err := h.o.Start(t.Context(), run.Request{})
	if err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, func() bool { return h.peers.Scanner.InFlight() == 2 }, "scans did not start")
	h.restart()
	h.peers.Scanner.Release()
	if err := h.o.Resume(t.Context()); err != nil {
		t.Fatal(err)
	}
	h.waitFinished(r.ID)

	runTraces := map[trace.TraceID]int{}
	for _, s := range traces.Spans() {
		for _, a := range s.Attributes {
			if a.Key == "scoutbridge.run_id" && a.Value.AsString() == r.ID {
				runTraces[s.SpanContext.TraceID()]++
			}
		}
	}
	// Two run spans (before and after the restart) and at least the two finished image spans.
	if len(runTraces) != 1 {
		t.Fatalf("the run's spans are in %d traces, want one: %v", len(runTraces), runTraces)
	}
	for _, n := range runTraces {
		if n < 4 {
			t.Errorf("%d spans in the run's trace, want the run span before and after the restart and its image spans", n)
		}
	}
}
