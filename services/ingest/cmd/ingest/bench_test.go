package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	imagev1 "github.com/scoutbridge/scoutbridge/gen/scoutbridge/image/v1"
	ingestv1 "github.com/scoutbridge/scoutbridge/gen/scoutbridge/ingest/v1"
	"github.com/scoutbridge/scoutbridge/pkg/config"
	"github.com/scoutbridge/scoutbridge/pkg/testutil"
	"github.com/scoutbridge/scoutbridge/services/ingest/internal/delivery"
	"github.com/scoutbridge/scoutbridge/services/ingest/internal/semdict"
	"github.com/scoutbridge/scoutbridge/services/ingest/internal/server"
	"github.com/scoutbridge/scoutbridge/services/ingest/internal/sink"
	"github.com/scoutbridge/scoutbridge/services/ingest/internal/store"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// benchReport is a scan shaped like a real Scout report: 200 findings, advisory text, a few locations.
func benchReport(i, findings int) *imagev1.ScanReport {
	r := &imagev1.ScanReport{ScanId: fmt.Sprintf("bench-%05d", i), Status: imagev1.ScanStatus_SCAN_STATUS_COMPLETED,
		Image:   &imagev1.Image{Registry: "docker.io", Repository: fmt.Sprintf("acme/svc%d", i), Digest: fmt.Sprintf("sha256:%064x", i+1), Tags: []string{"1.0", "latest"}},
		Scanner: &imagev1.Scanner{Name: "Docker Scout", Version: "1.18.2"}, CompletedAt: timestamppb.Now(),
		Sbom: &imagev1.SbomSummary{OsName: "debian", OsVersion: "12"}, Platform: "linux/amd64"}
	for j := range findings {
		s := 7.5
		r.Findings = append(r.Findings, &imagev1.Finding{VulnerabilityId: fmt.Sprintf("CVE-2026-%05d", j), Title: fmt.Sprintf("CVE-2026-%05d: Improper Input Validation", j),
			Description: strings.Repeat("An advisory sentence of typical length. ", 8), Severity: imagev1.Severity_SEVERITY_HIGH,
			Cvss:          &imagev1.Cvss{Score: &s, Version: "3.1", Vector: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"},
			Package:       &imagev1.Package{Purl: fmt.Sprintf("pkg:deb/debian/lib%d@1.2.3-1?os_distro=bookworm", j), Type: "deb", Namespace: "debian", Name: fmt.Sprintf("lib%d", j), Version: "1.2.3-1"},
			FixedVersions: []string{"1.2.3-2"}, Locations: []string{"/var/lib/dpkg/status"}, HelpUri: fmt.Sprintf("https://scout.docker.com/v/CVE-2026-%05d", j)})
	}
	return r
}

// sarif640KB is a report the size and shape of the real 640 KB SARIF (16 vulnerable packages found in
// 2,693 files, paths of ~49 characters, ~830 characters of advisory text per rule).
func sarif640KB() *imagev1.ScanReport {
	r := benchReport(0, 16)
	counts := []int{11, 58, 51, 5, 621, 113, 6, 224, 13, 6, 621, 13, 6, 621, 5, 319} // 2,693 in all
	for i, f := range r.Findings {
		f.Description = strings.Repeat("Advisory text as Scout prints it for the rule, once per finding. ", 13)
		f.Locations = nil
		for k := range counts[i] {
			f.Locations = append(f.Locations, fmt.Sprintf("/usr/local/lib/node_modules/npm/node_modules/m%04d/package.json", k))
		}
	}
	return r
}

func BenchmarkBytesPerImage(b *testing.B) {
	r := sarif640KB()
	var total int
	for b.Loop() {
		batch, err := semdict.Map(r, semdict.Options{})
		if err != nil {
			b.Fatal(err)
		}
		total = len(batch.Scan.Event.AppendJSON(nil)) + 2
		for _, f := range batch.Findings {
			total += len(f.Event.AppendJSON(nil)) + 1
		}
	}
	b.ReportMetric(float64(total), "bytes/image")
	b.ReportMetric(17, "events/image")
}

// BenchmarkEndToEnd ingests 100,000 findings from 500 scans through the gRPC handler into the store
// and delivers them to the stand-in on loopback; it reports events/s from the first ingest to the last
// event accepted, and the peak Go heap. Mode "backlog" ingests everything before delivery starts, to
// show that memory does not grow with the backlog. Mode "discard" posts to an in-process HTTP
// receiver that reads and drops the bodies (202), to show the service's own share without the
// stand-in's JSON validation. Those three call IngestScan one after the other; mode "concurrent" is
// "streaming" with scanConcurrency calls in flight, as the orchestrator makes them (SCAN_CONCURRENCY).
func BenchmarkEndToEnd(b *testing.B) {
	for _, mode := range []string{"streaming", "backlog", "discard", "concurrent"} {
		b.Run(mode, func(b *testing.B) {
			const scans, perScan = 500, 200
			fake, proc := startFakeProcess(b)
			if mode == "discard" {
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					_, _ = io.Copy(io.Discard, r.Body)
					w.WriteHeader(http.StatusAccepted)
				}))
				b.Cleanup(srv.Close)
				fake = srv.URL
			}
			reports := make([]*imagev1.ScanReport, scans)
			for i := range reports {
				reports[i] = benchReport(i, perScan)
			}
			for b.Loop() {
				_, _ = http.Post(fake+"/_fake/reset", "", nil)
				st, err := store.Open(b.Context(), filepath.Join(b.TempDir(), "ingest.db"))
				if err != nil {
					b.Fatal(err)
				}
				dt, _ := sink.NewDynatrace(fake+"/platform/ingest/v1/security.events", config.NewSecret(token), nil)
				counted := &countingSink{Sink: dt}
				log := slog.New(slog.NewTextHandler(io.Discard, nil))
				snd := delivery.NewSender(counted, st, log, delivery.Options{})
				srv := server.New(st, []*delivery.Sender{snd}, log)
				var peak atomic.Uint64
				stopSampling := sampleHeap(&peak)
				ctx, cancel := context.WithCancel(b.Context())
				done := make(chan struct{})
				cpu0 := processCPU(proc)
				start := time.Now()
				if mode != "backlog" {
					go func() { _ = snd.Run(ctx); close(done) }()
				}
				callers := 1
				if mode == "concurrent" {
					callers = scanConcurrency
				}
				if err := ingestAll(ctx, srv, reports, callers); err != nil {
					b.Fatal(err)
				}
				ingested := time.Since(start)
				if mode == "backlog" {
					go func() { _ = snd.Run(ctx); close(done) }()
				}
				want := int64(scans * (perScan + 1))
				for {
					n := counted.delivered.Load()
					if mode != "discard" {
						n = acceptedEvents(b, fake)
					}
					if n >= want {
						break
					}
					time.Sleep(20 * time.Millisecond)
				}
				elapsed := time.Since(start)
				cancel()
				<-done
				stopSampling()
				st.Close()
				b.ReportMetric(float64(want)/elapsed.Seconds(), "events/s")
				b.ReportMetric(float64(want)/ingested.Seconds(), "ingested-events/s")
				b.ReportMetric(float64(peak.Load())/(1<<20), "peak-heap-MiB")
				if mode != "discard" {
					b.ReportMetric((processCPU(proc) - cpu0).Seconds(), "standin-cpu-s")
				}
			}
		})
	}
}

// scanConcurrency is the orchestrator's default SCAN_CONCURRENCY: IngestScan calls in flight.
const scanConcurrency = 4

// ingestAll calls IngestScan for every report, with callers calls in flight.
func ingestAll(ctx context.Context, srv *server.Server, reports []*imagev1.ScanReport, callers int) error {
	var next atomic.Int64
	errs := make(chan error, callers)
	for range callers {
		go func() {
			for i := int(next.Add(1)) - 1; i < len(reports); i = int(next.Add(1)) - 1 {
				if _, err := srv.IngestScan(ctx, &ingestv1.IngestScanRequest{Report: reports[i]}); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	var err error
	for range callers {
		err = errors.Join(err, <-errs)
	}
	return err
}

// countingSink counts the events its sink accepted.
type countingSink struct {
	sink.Sink
	delivered atomic.Int64
}

func (c *countingSink) Deliver(ctx context.Context, events []sink.Event) error {
	err := c.Sink.Deliver(ctx, events)
	if err == nil {
		c.delivered.Add(int64(len(events)))
	}
	return err
}

// BenchmarkStandIn is the ceiling the stand-in sets: the benchmark's 100,500 events, encoded before the
// clock starts, posted in 10 MB batches one after the other (as the sender does) straight to
// tools/fakedynatrace, with no store in between.
func BenchmarkStandIn(b *testing.B) {
	const scans, perScan = 500, 200
	fake, proc := startFakeProcess(b)
	var events []sink.Event
	for i := range scans {
		batch, err := semdict.Map(benchReport(i, perScan), semdict.Options{})
		if err != nil {
			b.Fatal(err)
		}
		events = append(events, sink.Event{ID: batch.Scan.EventID, Body: batch.Scan.Event.AppendJSON(nil)})
		for _, f := range batch.Findings {
			events = append(events, sink.Event{ID: f.EventID, Body: f.Event.AppendJSON(nil)})
		}
	}
	dt, _ := sink.NewDynatrace(fake+"/platform/ingest/v1/security.events", config.NewSecret(token), nil)
	for b.Loop() {
		_, _ = http.Post(fake+"/_fake/reset", "", nil)
		cpu0 := processCPU(proc)
		start := time.Now()
		for i := 0; i < len(events); {
			j, size := i, 2
			for j < len(events) && j-i < 5000 && size+len(events[j].Body)+1 <= 10_000_000 {
				size += len(events[j].Body) + 1
				j++
			}
			if err := dt.Deliver(b.Context(), events[i:j]); err != nil {
				b.Fatal(err)
			}
			i = j
		}
		elapsed := time.Since(start)
		b.ReportMetric(float64(len(events))/elapsed.Seconds(), "events/s")
		b.ReportMetric((processCPU(proc) - cpu0).Seconds(), "standin-cpu-s")
	}
}

// processCPU is the user+system CPU time a child process has used so far (Linux /proc).
func processCPU(p *testutil.Process) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.Cmd.Process.Pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ
}

func startFakeProcess(t testing.TB) (string, *testutil.Process) {
	t.Helper()
	bin := testutil.BuildBinary(t, "./tools/fakedynatrace")
	addr := testutil.FreeAddr(t)
	p := testutil.StartProcess(t, bin, []string{"LISTEN_ADDR=" + addr, "FAKEDT_API_TOKEN=" + token,
		"FAKEDT_EVENTS_FILE=" + filepath.Join(t.TempDir(), "events.jsonl")})
	base := "http://" + addr
	testutil.Eventually(t, 10*time.Second, func() bool {
		r, err := http.Get(base + "/healthz")
		if err == nil {
			r.Body.Close()
		}
		return err == nil
	}, "fakedynatrace did not start")
	return base, p
}

func acceptedEvents(b *testing.B, base string) int64 {
	r, err := http.Get(base + "/_fake/stats")
	if err != nil {
		b.Fatal(err)
	}
	defer r.Body.Close()
	var s struct {
		Accepted int64 `json:"accepted_events"`
	}
	_ = json.NewDecoder(r.Body).Decode(&s)
	return s.Accepted
}

func sampleHeap(peak *atomic.Uint64) func() {
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		var m runtime.MemStats
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	return func() { close(stop); <-done }
}

// BenchmarkIngestOnly is the store's share of BenchmarkEndToEnd: one 200-finding scan committed (with
// its events, which are the outbox) per iteration, no delivery; calls one after the other.
func BenchmarkIngestOnly(b *testing.B) {
	st, err := store.Open(b.Context(), filepath.Join(b.TempDir(), "ingest.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	sinks := []string{"dynatrace"}
	i := 0
	for b.Loop() {
		batch, err := semdict.Map(benchReport(i, 200), semdict.Options{})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := st.Ingest(b.Context(), batch, sinks); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(b.N*201)/b.Elapsed().Seconds(), "events/s")
}
