package scan

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	imagev1 "github.com/scoutbridge/scoutbridge/gen/scoutbridge/image/v1"
	"github.com/scoutbridge/scoutbridge/services/scanner/internal/sarif"
	"github.com/scoutbridge/scoutbridge/services/scanner/internal/sbom"
	"github.com/scoutbridge/scoutbridge/services/scanner/internal/scout"
)

var (
	// ErrQueueFull: every Scout slot is busy and the wait queue is full. Retry later.
	ErrQueueFull = errors.New("scanner busy: every Scout slot is taken and the wait queue is full")
	// ErrBadReport: Scout exited 0 but its report could not be read. Nothing of it is kept.
	ErrBadReport = errors.New("Docker Scout's report could not be read")
	// ErrStopping: the service is shutting down and starts no new Scout run. Another scanner can.
	ErrStopping = errors.New("scanner is shutting down")
)

// Scout is the port to Docker Scout (scout.Runner in production).
type Scout interface {
	Scan(ctx context.Context, ref, platform string) (*scout.Output, error)
	Version(ctx context.Context) (string, error)
}

// Config bounds the service.
type Config struct {
	Concurrency     int           // Scout processes at once (SCANNER_CONCURRENCY)
	QueueSize       int           // requests that may wait for a slot (SCANNER_QUEUE_SIZE)
	Timeout         time.Duration // per scan (SCANNER_TIMEOUT), the process group is killed after it
	CacheTTL        time.Duration // how long a report is served from the cache (SCANNER_CACHE_TTL; 0 = no cache)
	CacheSize       int           // reports kept at most (default 4096)
	DefaultPlatform string        // SCANNER_PLATFORM
	Now             func() time.Time
	Logger          *slog.Logger // where a missing SBOM is reported (default: discarded)
}

// Request asks for one image.
type Request struct {
	Image    *imagev1.Image
	Platform string
	Force    bool
}

// Result is a report and whether it came from the cache.
type Result struct {
	Report *imagev1.ScanReport
	Cached bool
}

// Service scans images.
type Service struct {
	cfg   Config
	scout Scout
	cache *cache
	slots chan struct{}

	mu       sync.Mutex
	flights  map[string]*flight
	queued   int // flights waiting for a slot
	running  int // flights holding a slot
	stopping bool
	live     sync.WaitGroup // execute goroutines, including cancelled flights still killing Scout

	readyMu sync.Mutex
	ready   Readiness
}

// flight is one Scout run that any number of callers wait for.
type flight struct {
	done    chan struct{}
	waiters int
	cancel  context.CancelFunc
	result  *imagev1.ScanReport
	err     error
}

// New builds a Service.
func New(cfg Config, s Scout) *Service {
	cfg.Concurrency = max(cfg.Concurrency, 1)
	cfg.QueueSize = max(cfg.QueueSize, 0)
	if cfg.CacheSize <= 0 {
		cfg.CacheSize = 4096
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.DefaultPlatform == "" {
		cfg.DefaultPlatform = "linux/amd64"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Service{cfg: cfg, scout: s, cache: newCache(cfg.CacheTTL, cfg.CacheSize, cfg.Now),
		slots: make(chan struct{}, cfg.Concurrency), flights: map[string]*flight{},
		ready: Readiness{Reason: "not checked yet"}}
}

// Scan returns the report of one image: from the cache when fresh (unless Force), else from a Scout
// run shared with every concurrent request for the same digest and platform. When the last caller of
// a run goes away, the run is cancelled (and its process group killed).
func (s *Service) Scan(ctx context.Context, req Request) (*Result, error) {
	t, err := validate(req.Image, req.Platform, s.cfg.DefaultPlatform)
	if err != nil {
		return nil, err
	}
	key := t.key()
	if !req.Force {
		if r := s.cache.get(key); r != nil {
			return &Result{Report: withImage(r, req.Image, t), Cached: true}, nil
		}
	}
	s.mu.Lock()
	f, ok := s.flights[key]
	if !ok {
		if s.stopping {
			s.mu.Unlock()
			return nil, ErrStopping
		}
		if s.queued+s.running >= s.cfg.Concurrency+s.cfg.QueueSize {
			s.mu.Unlock()
			return nil, ErrQueueFull
		}
		// The run outlives the caller that started it (others may join), but keeps its trace.
		runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		f = &flight{done: make(chan struct{}), cancel: cancel}
		s.flights[key] = f
		s.queued++
		s.live.Add(1)
		go s.execute(runCtx, key, t, req.Image, f)
	}
	f.waiters++
	s.mu.Unlock()

	select {
	case <-f.done:
		if f.err != nil {
			return nil, f.err
		}
		return &Result{Report: withImage(f.result, req.Image, t)}, nil
	case <-ctx.Done():
		s.mu.Lock()
		f.waiters--
		if f.waiters == 0 {
			f.cancel()
			// A request that comes now starts a fresh run instead of joining a dying one.
			if s.flights[key] == f {
				delete(s.flights, key)
			}
		}
		s.mu.Unlock()
		return nil, ctx.Err()
	}
}

// execute waits for a slot, runs Scout and stores the report.
func (s *Service) execute(ctx context.Context, key string, t target, img *imagev1.Image, f *flight) {
	defer s.live.Done()
	defer f.cancel()
	holding := false
	defer func() {
		s.mu.Lock()
		if s.flights[key] == f {
			delete(s.flights, key)
		}
		if holding {
			s.running--
			<-s.slots
		} else {
			s.queued--
		}
		s.mu.Unlock()
		close(f.done)
	}()
	select {
	case s.slots <- struct{}{}:
	case <-ctx.Done():
		f.err = &scout.Error{Class: scout.ClassCanceled, Command: "cves", ExitCode: -1, Message: "every caller went away before a Scout slot was free"}
		return
	}
	s.mu.Lock()
	s.queued--
	s.running++
	holding = true
	s.mu.Unlock()

	runCtx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	started := s.cfg.Now()
	out, err := s.scout.Scan(runCtx, t.ref, t.platform)
	if err != nil {
		f.err = err
		return
	}
	rep, err := s.report(ctx, out, t, img, started)
	if err != nil {
		f.err = err
		return
	}
	f.result = rep
	s.cache.put(key, rep)
}

// report turns Scout's output into a ScanReport.
func (s *Service) report(ctx context.Context, out *scout.Output, t target, img *imagev1.Image, started time.Time) (*imagev1.ScanReport, error) {
	parsed, err := sarif.Parse(out.SARIF)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadReport, err)
	}
	rep := &imagev1.ScanReport{
		ScanId:      newScanID(),
		Image:       normalizedImage(img, t),
		Scanner:     &imagev1.Scanner{Name: "Docker Scout", Version: parsed.ToolVersion},
		StartedAt:   timestamppb.New(started),
		CompletedAt: timestamppb.New(s.cfg.Now()),
		Status:      imagev1.ScanStatus_SCAN_STATUS_COMPLETED,
		Findings:    parsed.Findings,
		Platform:    t.platform,
		Sbom:        &imagev1.SbomSummary{Platform: t.platform},
	}
	// The findings stand without the SBOM; it only adds OS and package details, so its failure is a
	// warning, not a failed scan.
	b, err := out.SBOM, out.SBOMError
	if err == nil && len(b) == 0 {
		err = errors.New("docker scout sbom wrote nothing")
	}
	if err == nil {
		var parsed *sbom.SBOM
		if parsed, err = sbom.Parse(b); err == nil {
			parsed.Enrich(rep.Findings)
			rep.Sbom = parsed.Summary
			if rep.Sbom.Platform == "" {
				rep.Sbom.Platform = t.platform
			}
		}
	}
	if err != nil {
		s.cfg.Logger.WarnContext(ctx, "no SBOM for the image: the report has its findings but no OS or package details",
			"image", t.ref, "platform", t.platform, "error", err.Error())
	}
	return rep, nil
}

// withImage gives a shared report the caller's view of the image (its tags may be newer).
func withImage(r *imagev1.ScanReport, img *imagev1.Image, t target) *imagev1.ScanReport {
	c := proto.CloneOf(r)
	c.Image = normalizedImage(img, t)
	return c
}

func normalizedImage(img *imagev1.Image, t target) *imagev1.Image {
	c := proto.CloneOf(img)
	if c.GetRegistry() == "" {
		c.Registry = t.registry
	}
	return c
}

func newScanID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// Close cancels every run and waits (until ctx ends) for their Scout processes to be killed and their
// temporary directories removed. Scout runs in its own process group, so the service's exit alone
// would leave it running. Scans asked for afterwards get ErrStopping.
func (s *Service) Close(ctx context.Context) {
	s.mu.Lock()
	s.stopping = true
	for _, f := range s.flights {
		f.cancel()
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.live.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// Load is how busy the service is now.
func (s *Service) Load() (concurrency, running, queued int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cfg.Concurrency, s.running, s.queued
}
