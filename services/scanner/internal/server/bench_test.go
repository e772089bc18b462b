package server

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/scoutbridge/scoutbridge/services/scanner/internal/scan"
)

// BenchmarkThroughput scans 100 distinct images through the real docker CLI and fakescout with 200 ms
// of latency per Scout command (a scan is `cves` + `sbom`, so at least 400 ms), at SCANNER_CONCURRENCY
// 1, 2, 4 and 8, with 100 callers at once. It reports images/s, the share of the latency bound
// (concurrency / 0.4 s) and the share of linear scaling from the concurrency-1 figure.
// Run with -benchtime=1x: one iteration is 100 scans.
func BenchmarkThroughput(b *testing.B) {
	const images = 100
	cfg := installScout(b, `{"default": {"latency_ms": 200, "findings": 20, "behavior": "ok"}}`)
	var single float64
	for _, conc := range []int{1, 2, 4, 8} {
		b.Run(fmt.Sprintf("concurrency=%d", conc), func(b *testing.B) {
			f := start(b, cfg, scan.Config{Concurrency: conc, QueueSize: images, Timeout: time.Minute})
			var elapsed time.Duration
			round := 0
			for b.Loop() {
				round++
				began := time.Now()
				var wg sync.WaitGroup
				errs := make(chan error, images)
				for i := range images {
					wg.Go(func() {
						_, err := f.client.ScanImage(b.Context(), request("bench/app", fmt.Sprintf("c%d-r%d-i%d", conc, round, i)))
						if err != nil {
							errs <- err
						}
					})
				}
				wg.Wait()
				elapsed += time.Since(began)
				close(errs)
				for err := range errs {
					b.Fatal(err)
				}
			}
			perSec := float64(images*b.N) / elapsed.Seconds()
			if conc == 1 {
				single = perSec
			}
			b.ReportMetric(perSec, "images/s")
			b.ReportMetric(100*perSec/(float64(conc)/0.4), "%latency-bound")
			if single > 0 {
				b.ReportMetric(100*perSec/(single*float64(conc)), "%linear")
			}
		})
	}
}
