package server

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	imagev1 "github.com/scoutbridge/scoutbridge/gen/scoutbridge/image/v1"
	ingestv1 "github.com/scoutbridge/scoutbridge/gen/scoutbridge/ingest/v1"
	triagev1 "github.com/scoutbridge/scoutbridge/gen/scoutbridge/triage/v1"
	"github.com/scoutbridge/scoutbridge/pkg/chassis"
	"github.com/scoutbridge/scoutbridge/services/runtime/internal/inventory"
	"github.com/scoutbridge/scoutbridge/services/runtime/internal/readmodel"
)

var now = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

const (
	dProd  = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	dPlat  = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	dOther = "sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
)

// fakeIngest serves ExportFindings from a list, at most limit per call, and can be down.
type fakeIngest struct {
	mu      sync.Mutex
	records []*ingestv1.FindingRecord
	down    bool
}

func (f *fakeIngest) ExportFindings(_ context.Context, in *ingestv1.ExportFindingsRequest, _ ...grpc.CallOption) (*ingestv1.ExportFindingsResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return nil, status.Error(codes.Unavailable, "connection refused")
	}
	resp := &ingestv1.ExportFindingsResponse{}
	for _, r := range f.records {
		resp.LastSequence = r.Sequence
		if r.Sequence > in.AfterSequence && len(resp.Findings) < 2 { // small pages: the sync must loop
			resp.Findings = append(resp.Findings, r)
		}
	}
	return resp, nil
}

func record(seq int64, digest, vuln string, ago time.Duration) *ingestv1.FindingRecord {
	var platforms []string
	if digest == dProd {
		platforms = []string{dPlat}
	}
	return &ingestv1.FindingRecord{Sequence: seq, Registry: "docker.io", Repository: "acme/api", Digest: digest, Tags: []string{"1.0"},
		PlatformDigests: platforms, VulnerabilityId: vuln, Title: vuln + ": overflow", Provider: "Docker Scout",
		PackageName: "openssl", PackageVersion: "3.0", RiskLevel: imagev1.RiskLevel_RISK_LEVEL_CRITICAL, RiskScore: 9.8,
		DetectedAt: timestamppb.New(now.Add(-ago))}
}

type staticSource struct{ cs []inventory.Container }

func (s staticSource) Name() string                                        { return "docker" }
func (s staticSource) Poll(context.Context) ([]inventory.Container, error) { return s.cs, nil }

type failingSource struct{}

func (failingSource) Name() string { return "kubernetes" }
func (failingSource) Poll(context.Context) ([]inventory.Container, error) {
	return nil, errors.New("kubernetes GET /api/v1/pods: HTTP 403")
}

type countingNotifier struct {
	mu   sync.Mutex
	sent map[string]bool
}

func (n *countingNotifier) Enqueue(_ context.Context, rows []readmodel.Row) (int, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	q := 0
	for _, r := range rows {
		if !n.sent[r.RowID] {
			n.sent[r.RowID] = true
			q++
		}
	}
	return q, nil
}

func startServer(t *testing.T, ing *fakeIngest) triagev1.TriageServiceClient {
	t.Helper()
	store, err := readmodel.Open(t.Context(), ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	// The production container reports the platform digest of dProd's image.
	inv := inventory.New(3*time.Hour, staticSource{cs: []inventory.Container{
		{ID: "c1", Name: "api-1", Stage: "production", State: "running", ImageDigest: dPlat, Digests: []string{dPlat}, ImageName: "acme/api"}}}, failingSource{})
	inv.SetClock(func() time.Time { return now })
	_ = inv.Poll(t.Context())
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := New(store, inv, &countingNotifier{sent: map[string]bool{}}, func(ctx context.Context) error { _, err := store.Sync(ctx, ing); return err }, logger)
	srv.SetClock(func() time.Time { return now })
	gs, _ := chassis.NewGRPCServer(logger)
	triagev1.RegisterTriageServiceServer(gs, srv)
	lis := bufconn.Listen(1 << 20)
	go gs.Serve(lis)
	t.Cleanup(gs.Stop)
	conn, err := grpc.NewClient("passthrough:///bufnet", grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return triagev1.NewTriageServiceClient(conn)
}

func TestTriageServiceEndToEnd(t *testing.T) {
	ing := &fakeIngest{records: []*ingestv1.FindingRecord{
		record(1, dProd, "CVE-2026-1", 2*time.Hour),
		record(2, dProd, "CVE-2026-2", 3*time.Hour),
		record(3, dProd, "CVE-2026-3", 4*time.Hour),
		record(4, dOther, "CVE-2026-4", time.Hour), // no container runs dOther
		record(5, dProd, "CVE-2026-5", 3*24*time.Hour),
	}}
	c := startServer(t, ing)
	ctx := t.Context()

	n, err := c.NotifyNewFindings(ctx, &triagev1.NotifyNewFindingsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if n.Rows != 3 || n.NotificationsQueued != 3 {
		t.Errorf("notify: %v, want 3 new rows queued (CVE-2026-1..3)", n)
	}
	if n, _ := c.NotifyNewFindings(ctx, &triagev1.NotifyNewFindingsRequest{}); n.NotificationsQueued != 0 {
		t.Errorf("second notify queued %d, want 0", n.NotificationsQueued)
	}

	var ids []string
	tok := ""
	for page := 0; ; page++ {
		resp, err := c.ListPrioritizedFindings(ctx, &triagev1.ListPrioritizedFindingsRequest{PageSize: 2, PageToken: tok})
		if err != nil {
			t.Fatal(err)
		}
		if resp.TotalCount != 3 {
			t.Errorf("total %d, want 3", resp.TotalCount)
		}
		for _, f := range resp.Findings {
			ids = append(ids, f.VulnerabilityId)
			if f.AffectedImagesCount != 1 || f.Images[0].Digest != dProd || f.Images[0].Containers[0].Name != "api-1" || !f.New {
				t.Errorf("row %v", f)
			}
		}
		if tok = resp.NextPageToken; tok == "" {
			break
		}
	}
	if strings.Join(ids, ",") != "CVE-2026-1,CVE-2026-2,CVE-2026-3" {
		t.Errorf("rows %v, want newest first", ids)
	}

	fun, err := c.GetAlertReduction(ctx, &triagev1.GetAlertReductionRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range fun.Stages {
		names = append(names, s.Name)
	}
	if strings.Join(names, ",") != "all,critical,running,production,new" || fun.Stages[0].Findings != 5 || fun.Stages[4].Findings != 3 ||
		fun.RegistryDigests != 2 || fun.RuntimeDigests != 1 || fun.ProductionDigests != 1 {
		t.Errorf("funnel %v", fun)
	}

	imgs, err := c.ListRuntimeImages(ctx, &triagev1.ListRuntimeImagesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(imgs.Images) != 1 || imgs.Images[0].Digest != dPlat || imgs.Images[0].ImageName != "acme/api" {
		t.Errorf("images %v", imgs.Images)
	}
	if len(imgs.Sources) != 2 || !imgs.Sources[0].Healthy || imgs.Sources[0].Containers != 1 ||
		imgs.Sources[1].Healthy || !strings.Contains(imgs.Sources[1].LastError, "403") {
		t.Errorf("sources %v", imgs.Sources)
	}
}

func TestTriageServiceRefusesBadInputAndReportsIngestDown(t *testing.T) {
	ing := &fakeIngest{down: true}
	c := startServer(t, ing)
	ctx := t.Context()
	for name, req := range map[string]*triagev1.ListPrioritizedFindingsRequest{
		"a token this service never returned": {PageToken: "not-a-token"},
		"new_within longer than the lookback": {Params: &triagev1.PrioritizationParams{Lookback: durationpb.New(time.Hour), NewWithin: durationpb.New(2 * time.Hour)}},
		"an unknown risk level":               {Params: &triagev1.PrioritizationParams{RiskLevels: []imagev1.RiskLevel{42}}},
		"a negative page size":                {PageSize: -1},
	} {
		if _, err := c.ListPrioritizedFindings(ctx, req); status.Code(err) != codes.InvalidArgument {
			t.Errorf("%s: %v, want InvalidArgument", name, err)
		}
	}
	if _, err := c.NotifyNewFindings(ctx, &triagev1.NotifyNewFindingsRequest{}); status.Code(err) != codes.Unavailable {
		t.Errorf("notify with ingest down: %v, want Unavailable", err)
	}
}
