package scan

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	imagev1 "github.com/scoutbridge/scoutbridge/gen/scoutbridge/image/v1"
	"github.com/scoutbridge/scoutbridge/services/scanner/internal/scout"
)

const emptySARIF = `{"version":"2.1.0","runs":[{"tool":{"driver":{"fullName":"Docker Scout","name":"docker scout","version":"1.18.2","rules":[]}},"results":[]}]}`

// fakeScout counts runs; while gate is open-ended (nil) runs return at once.
type fakeScout struct {
	runs    atomic.Int32
	gate    chan struct{}
	stopped atomic.Int32
	output  string
}

func (f *fakeScout) Scan(ctx context.Context, ref, platform string) (*scout.Output, error) {
	f.runs.Add(1)
	if f.gate != nil {
		select {
		case <-f.gate:
		case <-ctx.Done():
			f.stopped.Add(1)
			return nil, &scout.Error{Class: scout.ClassCanceled, Message: "killed"}
		}
	}
	out := f.output
	if out == "" {
		out = emptySARIF
	}
	return &scout.Output{SARIF: []byte(out)}, nil
}

func (f *fakeScout) Version(context.Context) (string, error) { return "v1.18.2", nil }

func img(label string) *imagev1.Image {
	return &imagev1.Image{Repository: "acme/api", Digest: "sha256:" + strings.Repeat(label, 64)[:64]}
}

func TestCacheExpiresAndStaysBounded(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	fs := &fakeScout{}
	s := New(Config{Timeout: time.Minute, CacheTTL: time.Hour, CacheSize: 2, Now: clock}, fs)
	scan := func(label string) *Result {
		r, err := s.Scan(t.Context(), Request{Image: img(label)})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	first := scan("a")
	if again := scan("a"); !again.Cached || again.Report.GetScanId() != first.Report.GetScanId() {
		t.Fatalf("within the TTL: cached=%v", again.Cached)
	}
	mu.Lock()
	now = now.Add(time.Hour)
	mu.Unlock()
	if after := scan("a"); after.Cached || after.Report.GetScanId() == first.Report.GetScanId() {
		t.Fatal("after the TTL the report was still served from the cache")
	}
	scan("b")
	scan("c") // evicts a, the least recently used
	if s.cache.len() != 2 {
		t.Fatalf("cache holds %d reports, bound is 2", s.cache.len())
	}
	if r := scan("a"); r.Cached {
		t.Fatal("an evicted report was served")
	}
	if n := fs.runs.Load(); n != 5 {
		t.Fatalf("%d Scout runs, want 5", n)
	}
}

func TestNoCacheWhenTTLIsZero(t *testing.T) {
	fs := &fakeScout{}
	s := New(Config{Timeout: time.Minute}, fs)
	for range 2 {
		if r, err := s.Scan(t.Context(), Request{Image: img("a")}); err != nil || r.Cached {
			t.Fatalf("cached=%v %v", r.Cached, err)
		}
	}
}

func TestRunStopsOnlyWhenItsLastCallerLeaves(t *testing.T) {
	fs := &fakeScout{gate: make(chan struct{})}
	s := New(Config{Timeout: time.Minute, CacheTTL: time.Hour}, fs)
	ctx1, cancel1 := context.WithCancel(t.Context())
	ctx2, cancel2 := context.WithCancel(t.Context())
	errs := make(chan error, 2)
	go func() { _, err := s.Scan(ctx1, Request{Image: img("a")}); errs <- err }()
	go func() { _, err := s.Scan(ctx2, Request{Image: img("a")}); errs <- err }()
	waitFor(t, func() bool { return fs.runs.Load() == 1 && waiters(s) == 2 })
	cancel1()
	if err := <-errs; !errors.Is(err, context.Canceled) {
		t.Fatalf("first caller: %v", err)
	}
	time.Sleep(50 * time.Millisecond)
	if fs.stopped.Load() != 0 {
		t.Fatal("the run stopped while a caller still waited")
	}
	cancel2()
	<-errs
	waitFor(t, func() bool { return fs.stopped.Load() == 1 })
	// A new request starts a fresh run rather than joining the dying one.
	close(fs.gate)
	if _, err := s.Scan(t.Context(), Request{Image: img("a")}); err != nil {
		t.Fatalf("after every caller left, a new request: %v", err)
	}
}

func TestBadReportIsAnErrorNotAPartialReport(t *testing.T) {
	s := New(Config{Timeout: time.Minute, CacheTTL: time.Hour}, &fakeScout{output: emptySARIF[:40]})
	r, err := s.Scan(t.Context(), Request{Image: img("a")})
	if !errors.Is(err, ErrBadReport) || r != nil {
		t.Fatalf("got %v, %v", r, err)
	}
	if s.cache.len() != 0 {
		t.Fatal("a failed scan was cached")
	}
}

func waiters(s *Service) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, f := range s.flights {
		n += f.waiters
	}
	return n
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// slowKill is a Scout whose first run takes a while to die after cancellation (killing and reaping a
// process group is not instant); later runs succeed.
type slowKill struct{ calls atomic.Int32 }

func (s *slowKill) Scan(ctx context.Context, ref, platform string) (*scout.Output, error) {
	if s.calls.Add(1) == 1 {
		<-ctx.Done()
		time.Sleep(300 * time.Millisecond)
		return nil, &scout.Error{Class: scout.ClassCanceled, Command: "cves", ExitCode: -1, Message: "cancelled"}
	}
	return &scout.Output{SARIF: []byte(emptySARIF)}, nil
}

func (s *slowKill) Version(context.Context) (string, error) { return "v1.18.2", nil }

func TestACallerArrivingWhileACancelledRunDiesGetsAFreshRun(t *testing.T) {
	sc := &slowKill{}
	svc := New(Config{Concurrency: 2, QueueSize: 2, Timeout: time.Minute, CacheTTL: time.Hour}, sc)
	ctxA, cancelA := context.WithCancel(t.Context())
	time.AfterFunc(100*time.Millisecond, cancelA)
	if _, err := svc.Scan(ctxA, Request{Image: img("a")}); err == nil {
		t.Fatal("the cancelled caller got a report")
	}
	if _, err := svc.Scan(t.Context(), Request{Image: img("a")}); err != nil {
		t.Fatalf("a caller that never cancelled joined the dying run and got: %v", err)
	}
	if n := sc.calls.Load(); n != 2 {
		t.Fatalf("Scout ran %d times, want 2 (the cancelled run and a fresh one)", n)
	}
}

func TestCloseStopsEveryRunAndRefusesNewOnes(t *testing.T) {
	fs := &fakeScout{gate: make(chan struct{})}
	s := New(Config{Timeout: time.Minute}, fs)
	errs := make(chan error, 1)
	go func() { _, err := s.Scan(t.Context(), Request{Image: img("a")}); errs <- err }()
	waitFor(t, func() bool { return fs.runs.Load() == 1 })
	s.Close(t.Context())
	if fs.stopped.Load() != 1 {
		t.Fatal("Close returned while Scout still ran")
	}
	if err := <-errs; err == nil {
		t.Fatal("the caller of a stopped run got a report")
	}
	if _, err := s.Scan(t.Context(), Request{Image: img("b")}); !errors.Is(err, ErrStopping) {
		t.Fatalf("a scan after Close: %v, want ErrStopping", err)
	}
}

// sbomFails answers the SARIF but not the SBOM, as when `docker scout sbom` alone fails.
type sbomFails struct{}

func (sbomFails) Scan(context.Context, string, string) (*scout.Output, error) {
	return &scout.Output{SARIF: []byte(emptySARIF),
		SBOMError: &scout.Error{Class: scout.ClassUnavailable, Command: "sbom", ExitCode: 1, Message: "graphql: EOF"}}, nil
}

func (sbomFails) Version(context.Context) (string, error) { return "v1.18.2", nil }

func TestAFailedSBOMKeepsTheReportAndIsLogged(t *testing.T) {
	var logs strings.Builder
	s := New(Config{Timeout: time.Minute, Logger: slog.New(slog.NewJSONHandler(&logs, nil))}, sbomFails{})
	r, err := s.Scan(t.Context(), Request{Image: img("a")})
	if err != nil || r.Report.GetStatus() != imagev1.ScanStatus_SCAN_STATUS_COMPLETED {
		t.Fatalf("Scan = %v, %v; want a completed report without SBOM details", r, err)
	}
	if got := logs.String(); !strings.Contains(got, "no SBOM for the image") || !strings.Contains(got, "acme/api@sha256:aaaa") || !strings.Contains(got, "graphql: EOF") {
		t.Errorf("the log does not say which image lacks its SBOM and why:\n%s", got)
	}
}
