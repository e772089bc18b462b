package discover_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scoutbridge/scoutbridge/pkg/testutil"
	"github.com/scoutbridge/scoutbridge/services/discovery/internal/discover"
	"github.com/scoutbridge/scoutbridge/services/discovery/internal/hub"
	fakehub "github.com/scoutbridge/scoutbridge/tools/fakehub/hub"
)

// BenchmarkDiscover measures a discovery of one namespace of N repositories × 50 tags in which 20
// repositories changed inside the window, against the fakehub binary (a separate process, so the
// heap figures are discovery's own). Run:
//
//	go test ./internal/discover -run '^$' -bench BenchmarkDiscover -benchmem
func BenchmarkDiscover(b *testing.B) {
	for _, repos := range []int{200, 2000} {
		b.Run(fmt.Sprintf("repos=%d/changed=20", repos), func(b *testing.B) {
			base := startFakehub(b, repos)
			benchDiscover(b, base, time.Now().Add(-2*time.Hour), 20)
		})
	}
}

// BenchmarkDiscoverEverything is the worst case for memory: every repository is inside the window, so
// every tag of every repository is listed.
func BenchmarkDiscoverEverything(b *testing.B) {
	for _, repos := range []int{200, 2000} {
		b.Run(fmt.Sprintf("repos=%d", repos), func(b *testing.B) {
			base := startFakehub(b, repos)
			benchDiscover(b, base, time.Time{}, repos*50+20)
		})
	}
}

func startFakehub(b *testing.B, repos int) string {
	bin := testutil.BuildBinary(b, "./tools/fakehub")
	addr := testutil.FreeAddr(b)
	base := "http://" + addr
	testutil.StartProcess(b, bin, nil, "-listen", addr, "-public-url", base,
		"-generate", fmt.Sprintf("1x%dx50", repos), "-generate-age", "24h", "-spread", "720h", "-seed", "42")
	testutil.Eventually(b, 60*time.Second, func() bool {
		resp, err := http.Get(base + "/_fake/health")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil
	}, "fakehub did not start")
	var pushes []fakehub.Push
	for i := range 20 {
		pushes = append(pushes, fakehub.Push{Namespace: "ns0", Repository: fmt.Sprintf("repo-%04d", i*(repos/20)),
			Tags: []string{"changed", "latest"}, Platforms: []string{"linux/amd64", "linux/arm64"}, Attestations: true,
			PushedAt: time.Now().Add(-30 * time.Minute)})
	}
	body, _ := json.Marshal(pushes)
	resp, err := http.Post(base+"/_fake/push", "application/json", strings.NewReader(string(body)))
	if err != nil || resp.StatusCode != 200 {
		b.Fatalf("push: %v %v", err, resp)
	}
	resp.Body.Close()
	return base
}

func hubCalls(b *testing.B, base string) int64 {
	resp, err := http.Get(base + "/_fake/calls")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	var c fakehub.Calls
	if err := json.NewDecoder(resp.Body).Decode(&c); err != nil {
		b.Fatal(err)
	}
	return c.Total
}

// heapPeak samples the live heap every millisecond until stop is called and returns the peak.
func heapPeak() (stop func() uint64) {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	var peak atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(sample)
			if v := sample[0].Value.Uint64(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	})
	return func() uint64 { close(done); wg.Wait(); return peak.Load() }
}

func benchDiscover(b *testing.B, base string, after time.Time, wantImages int) {
	client := hub.New(hub.Config{BaseURL: base})
	d := &discover.Discoverer{Hub: client}
	q := discover.Query{Namespaces: []string{"ns0"}, After: after}
	runtime.GC()
	baseline := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(baseline)
	stop := heapPeak()
	var calls int64
	var images int
	b.ResetTimer()
	for b.Loop() {
		before := hubCalls(b, base)
		images = 0
		err := d.Discover(context.Background(), q, func(e discover.Entry) error {
			if e.Image != nil {
				images++
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		calls = hubCalls(b, base) - before // control calls are not counted

	}
	b.StopTimer()
	peak := stop()
	if images < wantImages && after.IsZero() {
		b.Logf("%d images (want at least %d)", images, wantImages)
	}
	if !after.IsZero() && images != wantImages {
		b.Fatalf("%d images, want %d", images, wantImages)
	}
	b.ReportMetric(float64(calls), "hub-calls/op")
	b.ReportMetric(float64(images), "images/op")
	b.ReportMetric(float64(peak-min(peak, baseline[0].Value.Uint64()))/(1<<20), "peak-heap-MiB")
}
