package run_test

import (
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scoutbridge/scoutbridge/services/orchestrator/internal/peertest"
	"github.com/scoutbridge/scoutbridge/services/orchestrator/internal/run"
)

// BenchmarkFullRun500Images is issue 6's figure: 500 images, Scout latency 200 ms, 50 findings each,
// SCAN_CONCURRENCY 4; ideal wall time 500 x 0.2 s / 4 = 25 s. Peers are in-process stand-ins, so the
// memory figure covers orchestrator and stand-ins together. Run with -benchtime=1x.
func BenchmarkFullRun500Images(b *testing.B) {
	const images, latency, concurrency = 500, 200 * time.Millisecond, 4
	h := newHarness(b, func(o *run.Options) { o.ScanConcurrency = concurrency })
	h.peers.Scanner.Latency = latency
	h.peers.Scanner.Findings = 50
	for i := range images {
		h.peers.Discovery.AddImages(peertest.Image("bench/app", i, t0.Add(-time.Hour)))
	}
	ideal := time.Duration(images) * latency / concurrency

	var peak atomic.Uint64
	stop := make(chan struct{})
	go func() {
		var ms runtime.MemStats
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse+ms.StackInuse > peak.Load() {
				peak.Store(ms.HeapInuse + ms.StackInuse)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	defer close(stop)

	var total time.Duration
	n := 0
	for b.Loop() {
		start := time.Now()
		r, _ := h.runToEnd(run.Request{PushedAfter: t0.Add(-2 * time.Hour), ForceRescan: true})
		total += time.Since(start)
		n++
		if r.Counts.Ingested != images || r.Counts.Findings.Total() != images*50 {
			b.Fatalf("run %s counts %+v", r.State, r.Counts)
		}
	}
	wall := total / time.Duration(n)
	b.ReportMetric(wall.Seconds(), "wall-s/run")
	b.ReportMetric(ideal.Seconds(), "ideal-s/run")
	b.ReportMetric(float64((wall-ideal).Microseconds())/images/1000, "overhead-ms/image")
	b.ReportMetric(float64(peak.Load())/(1<<20), "peak-heap+stack-MiB")
}
