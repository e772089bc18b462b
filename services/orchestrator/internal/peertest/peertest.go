// Package peertest runs in-process stand-ins for the orchestrator's four peers (discovery, scanner,
// ingest, runtime) on one loopback gRPC server, for the orchestrator's tests and benchmark. Each
// stand-in is scriptable: images and namespace errors to list, per-digest scan failures, a "down"
// switch per peer, a gate that holds scans, and ingest's duplicate detection by scan_id.
package peertest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	discoveryv1 "github.com/scoutbridge/scoutbridge/gen/scoutbridge/discovery/v1"
	imagev1 "github.com/scoutbridge/scoutbridge/gen/scoutbridge/image/v1"
	ingestv1 "github.com/scoutbridge/scoutbridge/gen/scoutbridge/ingest/v1"
	scannerv1 "github.com/scoutbridge/scoutbridge/gen/scoutbridge/scanner/v1"
	triagev1 "github.com/scoutbridge/scoutbridge/gen/scoutbridge/triage/v1"
	"github.com/scoutbridge/scoutbridge/pkg/chassis"
	"github.com/scoutbridge/scoutbridge/pkg/risk"
)

// Peers are the four stand-ins, served together at Addr.
type Peers struct {
	Addr      string
	Discovery *Discovery
	Scanner   *Scanner
	Ingest    *Ingest
	Triage    *Triage
}

// Start serves the stand-ins on a loopback port until the test ends.
func Start(t testing.TB) *Peers {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv, _ := chassis.NewGRPCServer(slog.New(slog.DiscardHandler))
	p := &Peers{Addr: lis.Addr().String(), Discovery: &Discovery{}, Scanner: &Scanner{Findings: 3},
		Ingest: &Ingest{scans: map[string]string{}, byDigest: map[string][]string{}}, Triage: &Triage{}}
	discoveryv1.RegisterDiscoveryServiceServer(srv, p.Discovery)
	scannerv1.RegisterScannerServiceServer(srv, p.Scanner)
	ingestv1.RegisterIngestServiceServer(srv, p.Ingest)
	triagev1.RegisterTriageServiceServer(srv, p.Triage)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return p
}

// Image builds a Docker Hub image with a digest derived from repo and n.
func Image(repo string, n int, pushedAt time.Time) *imagev1.Image {
	return &imagev1.Image{Registry: "docker.io", Repository: repo, Digest: Digest(repo, n), Tags: []string{fmt.Sprintf("v%d", n)},
		MediaType: "application/vnd.oci.image.index.v1+json", PushedAt: timestamppb.New(pushedAt),
		Platforms: []*imagev1.Platform{{Os: "linux", Architecture: "amd64", Digest: Digest(repo+"/amd64", n)}}}
}

// Digest is a stable fake sha256 digest.
func Digest(repo string, n int) string {
	const hexdigits = "0123456789abcdef"
	b := make([]byte, 64)
	seed := fmt.Sprintf("%s#%d", repo, n)
	h := uint64(14695981039346656037)
	for i := range b {
		h ^= uint64(seed[i%len(seed)]) + uint64(i)
		h *= 1099511628211
		b[i] = hexdigits[h>>60]
	}
	return "sha256:" + string(b)
}

// Discovery lists its images whose pushed_at falls inside the requested window.
type Discovery struct {
	discoveryv1.UnimplementedDiscoveryServiceServer
	mu        sync.Mutex
	images    []*imagev1.Image
	nsErrors  []*discoveryv1.NamespaceError
	down      bool
	requests  []*discoveryv1.DiscoverImagesRequest
	failAfter int // >0: the stream breaks with Unavailable after this many images, once
	brokeOnce bool
	perImage  time.Duration
}

// SetImages replaces the images discovery knows.
func (d *Discovery) SetImages(imgs ...*imagev1.Image) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.images = imgs
}

// AddImages adds images.
func (d *Discovery) AddImages(imgs ...*imagev1.Image) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.images = append(d.images, imgs...)
}

// SetNamespaceErrors makes every listing report these namespaces as failed.
func (d *Discovery) SetNamespaceErrors(errs ...*discoveryv1.NamespaceError) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.nsErrors = errs
}

// SetDown makes DiscoverImages answer Unavailable.
func (d *Discovery) SetDown(down bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.down = down
}

// BreakStreamAfter makes the next listing fail with Unavailable after n images.
func (d *Discovery) BreakStreamAfter(n int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.failAfter, d.brokeOnce = n, false
}

// Requests returns the requests received.
func (d *Discovery) Requests() []*discoveryv1.DiscoverImagesRequest {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]*discoveryv1.DiscoverImagesRequest(nil), d.requests...)
}

// DiscoverImages streams matching images.
func (d *Discovery) DiscoverImages(req *discoveryv1.DiscoverImagesRequest, stream discoveryv1.DiscoveryService_DiscoverImagesServer) error {
	d.mu.Lock()
	d.requests = append(d.requests, proto.CloneOf(req))
	down, imgs, nsErrs := d.down, append([]*imagev1.Image(nil), d.images...), d.nsErrors
	breakAfter := 0
	if d.failAfter > 0 && !d.brokeOnce {
		breakAfter, d.brokeOnce = d.failAfter, true
	}
	d.mu.Unlock()
	if down {
		return status.Error(codes.Unavailable, "discovery stand-in is down")
	}
	for _, ne := range nsErrs {
		if err := stream.Send(&discoveryv1.DiscoverImagesResponse{Entry: &discoveryv1.DiscoverImagesResponse_NamespaceError{NamespaceError: ne}}); err != nil {
			return err
		}
	}
	sent := 0
	for _, img := range imgs {
		at := img.GetPushedAt().AsTime()
		if req.GetPushedAfter() != nil && at.Before(req.GetPushedAfter().AsTime()) {
			continue
		}
		if req.GetPushedBefore() != nil && !at.Before(req.GetPushedBefore().AsTime()) {
			continue
		}
		if len(req.GetNamespaces()) > 0 && !inNamespaces(img.GetRepository(), req.GetNamespaces()) {
			continue
		}
		if breakAfter > 0 && sent == breakAfter {
			return status.Error(codes.Unavailable, "discovery stand-in: stream broken")
		}
		if err := stream.Send(&discoveryv1.DiscoverImagesResponse{Entry: &discoveryv1.DiscoverImagesResponse_Image{Image: img}}); err != nil {
			return err
		}
		sent++
	}
	return nil
}

func inNamespaces(repo string, nss []string) bool {
	for _, ns := range nss {
		if len(repo) > len(ns) && repo[:len(ns)] == ns && repo[len(ns)] == '/' {
			return true
		}
	}
	return false
}

// Scanner answers ScanImage with a report of Findings findings after Latency.
type Scanner struct {
	scannerv1.UnimplementedScannerServiceServer
	// Latency is how long a scan takes.
	Latency time.Duration
	// Findings is the number of findings per report (scores cycle through CRITICAL..NONE).
	Findings int

	mu       sync.Mutex
	script   map[string][]codes.Code // per digest: codes to answer before succeeding
	down     bool
	gate     gate
	calls    map[string]int
	forced   map[string]int
	inFlight int
	maxIn    int
}

// Fail makes the next scans of digest answer the given codes, in order, before succeeding.
func (s *Scanner) Fail(digest string, cs ...codes.Code) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.script == nil {
		s.script = map[string][]codes.Code{}
	}
	s.script[digest] = append(s.script[digest], cs...)
}

// SetDown makes every scan answer Unavailable.
func (s *Scanner) SetDown(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = down
}

// Hold makes scans wait until Release (or their context ends).
func (s *Scanner) Hold() { s.gate.hold() }

// Release lets held scans go on.
func (s *Scanner) Release() { s.gate.release() }

// Calls is the number of ScanImage calls for digest.
func (s *Scanner) Calls(digest string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[digest]
}

// Forced is the number of calls with force set for digest.
func (s *Scanner) Forced(digest string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.forced[digest]
}

// TotalCalls counts every ScanImage call.
func (s *Scanner) TotalCalls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.calls {
		n += c
	}
	return n
}

// MaxInFlight is the most scans that ran at once.
func (s *Scanner) MaxInFlight() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxIn
}

// InFlight is the number of scans running now.
func (s *Scanner) InFlight() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inFlight
}

// ScanImage answers the script, or a report.
func (s *Scanner) ScanImage(ctx context.Context, req *scannerv1.ScanImageRequest) (*scannerv1.ScanImageResponse, error) {
	d := req.GetImage().GetDigest()
	s.mu.Lock()
	if s.calls == nil {
		s.calls, s.forced = map[string]int{}, map[string]int{}
	}
	s.calls[d]++
	if req.GetForce() {
		s.forced[d]++
	}
	down := s.down
	var code codes.Code
	if sc := s.script[d]; len(sc) > 0 {
		code, s.script[d] = sc[0], sc[1:]
	}
	s.inFlight++
	s.maxIn = max(s.maxIn, s.inFlight)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.inFlight--
		s.mu.Unlock()
	}()
	if down {
		return nil, status.Error(codes.Unavailable, "scanner stand-in is down")
	}
	if err := s.gate.wait(ctx); err != nil {
		return nil, err
	}
	if s.Latency > 0 {
		select {
		case <-time.After(s.Latency):
		case <-ctx.Done():
			return nil, status.FromContextError(ctx.Err()).Err()
		}
	}
	if code != codes.OK {
		return nil, status.Errorf(code, "scripted %s for %s", code, d)
	}
	return &scannerv1.ScanImageResponse{Report: Report(req.GetImage(), s.Findings)}, nil
}

var scores = []float64{9.8, 7.5, 5.3, 2.1, 0}

// Report builds a completed report with n findings; scores cycle 9.8, 7.5, 5.3, 2.1, 0 (CRITICAL, HIGH,
// MEDIUM, LOW, NONE).
func Report(img *imagev1.Image, n int) *imagev1.ScanReport {
	now := timestamppb.Now()
	r := &imagev1.ScanReport{ScanId: newID(), Image: img, Scanner: &imagev1.Scanner{Name: "Docker Scout", Version: "1.18.2"},
		StartedAt: now, CompletedAt: now, Status: imagev1.ScanStatus_SCAN_STATUS_COMPLETED, Platform: "linux/amd64"}
	for i := range n {
		score := scores[i%len(scores)]
		r.Findings = append(r.Findings, &imagev1.Finding{
			VulnerabilityId: fmt.Sprintf("CVE-2026-%05d", i), Title: fmt.Sprintf("CVE-2026-%05d: test", i),
			Severity: imagev1.Severity_SEVERITY_HIGH, Cvss: &imagev1.Cvss{Score: &score, Version: "3.1"},
			Package: &imagev1.Package{Purl: fmt.Sprintf("pkg:deb/debian/pkg%d@1.0", i), Type: "deb", Name: fmt.Sprintf("pkg%d", i), Version: "1.0"},
		})
	}
	return r
}

func newID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Ingest stores reports once per scan_id, like the real ingest service.
type Ingest struct {
	ingestv1.UnimplementedIngestServiceServer
	mu       sync.Mutex
	scans    map[string]string   // scan_id -> digest
	byDigest map[string][]string // digest -> scan ids stored
	calls    int
	down     bool
	failNext []codes.Code
	queued   int64
}

// SetDown makes IngestScan answer Unavailable.
func (i *Ingest) SetDown(down bool) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.down = down
}

// FailNext makes the next calls answer these codes.
func (i *Ingest) FailNext(cs ...codes.Code) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.failNext = append(i.failNext, cs...)
}

// SetQueued sets what GetIngestStats reports as queued.
func (i *Ingest) SetQueued(n int64) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.queued = n
}

// Stored returns, per digest, the scan ids stored (a digest ingested once has one).
func (i *Ingest) Stored() map[string][]string {
	i.mu.Lock()
	defer i.mu.Unlock()
	out := make(map[string][]string, len(i.byDigest))
	for d, ids := range i.byDigest {
		out[d] = append([]string(nil), ids...)
	}
	return out
}

// Calls counts IngestScan calls, duplicates included.
func (i *Ingest) Calls() int {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.calls
}

// IngestScan stores a report unless its scan_id was stored before.
func (i *Ingest) IngestScan(_ context.Context, req *ingestv1.IngestScanRequest) (*ingestv1.IngestScanResponse, error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.calls++
	if i.down {
		return nil, status.Error(codes.Unavailable, "ingest stand-in is down")
	}
	if len(i.failNext) > 0 {
		c := i.failNext[0]
		i.failNext = i.failNext[1:]
		return nil, status.Errorf(c, "scripted %s", c)
	}
	r := req.GetReport()
	if r.GetScanId() == "" || r.GetImage().GetDigest() == "" {
		return nil, status.Error(codes.InvalidArgument, "report.scan_id and report.image.digest are required")
	}
	if _, dup := i.scans[r.GetScanId()]; dup {
		return &ingestv1.IngestScanResponse{ScanId: r.GetScanId(), Duplicate: true, Findings: &ingestv1.FindingCounts{}}, nil
	}
	i.scans[r.GetScanId()] = r.GetImage().GetDigest()
	i.byDigest[r.GetImage().GetDigest()] = append(i.byDigest[r.GetImage().GetDigest()], r.GetScanId())
	var c risk.Counts
	for _, f := range r.GetFindings() {
		lvl, _ := risk.OfFinding(f)
		c.Add(lvl)
	}
	fc := &ingestv1.FindingCounts{Critical: c.Critical, High: c.High, Medium: c.Medium, Low: c.Low, None: c.None}
	n := int64(1 + len(r.GetFindings()))
	return &ingestv1.IngestScanResponse{ScanId: r.GetScanId(), EventsStored: n, EventsQueued: n, Findings: fc}, nil
}

// GetIngestStats reports the queued count set with SetQueued.
func (i *Ingest) GetIngestStats(context.Context, *ingestv1.GetIngestStatsRequest) (*ingestv1.GetIngestStatsResponse, error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	return &ingestv1.GetIngestStatsResponse{Sinks: []*ingestv1.SinkStats{{Name: "jsonl", Queued: i.queued}}}, nil
}

// Triage is the runtime service: a list of running images and a NotifyNewFindings counter.
type Triage struct {
	triagev1.UnimplementedTriageServiceServer
	mu      sync.Mutex
	running []*triagev1.RuntimeImage
	notify  int
	down    bool
	gate    gate
}

// HoldNotify makes NotifyNewFindings wait until ReleaseNotify (or its context ends).
func (r *Triage) HoldNotify() { r.gate.hold() }

// ReleaseNotify lets held NotifyNewFindings calls go on.
func (r *Triage) ReleaseNotify() { r.gate.release() }

// SetRunning sets the running images.
func (r *Triage) SetRunning(imgs ...*triagev1.RuntimeImage) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.running = imgs
}

// SetDown makes every call answer Unavailable.
func (r *Triage) SetDown(down bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.down = down
}

// Notified counts NotifyNewFindings calls.
func (r *Triage) Notified() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.notify
}

// ListRuntimeImages returns the running images.
func (r *Triage) ListRuntimeImages(context.Context, *triagev1.ListRuntimeImagesRequest) (*triagev1.ListRuntimeImagesResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.down {
		return nil, status.Error(codes.Unavailable, "runtime stand-in is down")
	}
	return &triagev1.ListRuntimeImagesResponse{Images: r.running}, nil
}

// NotifyNewFindings counts the call.
func (r *Triage) NotifyNewFindings(ctx context.Context, _ *triagev1.NotifyNewFindingsRequest) (*triagev1.NotifyNewFindingsResponse, error) {
	if err := r.gate.wait(ctx); err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.down {
		return nil, status.Error(codes.Unavailable, "runtime stand-in is down")
	}
	r.notify++
	return &triagev1.NotifyNewFindingsResponse{}, nil
}

// gate holds calls between hold and release.
type gate struct {
	mu sync.Mutex
	ch chan struct{}
}

func (g *gate) hold() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.ch = make(chan struct{})
}

func (g *gate) release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ch != nil {
		close(g.ch)
		g.ch = nil
	}
}

// wait returns once the gate is open, or the context's status when ctx ends first.
func (g *gate) wait(ctx context.Context) error {
	g.mu.Lock()
	ch := g.ch
	g.mu.Unlock()
	if ch == nil {
		return nil
	}
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return status.FromContextError(ctx.Err()).Err()
	}
}
