package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/timestamppb"

	imagev1 "github.com/scoutbridge/scoutbridge/gen/scoutbridge/image/v1"
	ingestv1 "github.com/scoutbridge/scoutbridge/gen/scoutbridge/ingest/v1"
	triagev1 "github.com/scoutbridge/scoutbridge/gen/scoutbridge/triage/v1"
	"github.com/scoutbridge/scoutbridge/pkg/testutil"
)

type exportOnly struct {
	ingestv1.UnimplementedIngestServiceServer
	records []*ingestv1.FindingRecord
}

func (e *exportOnly) ExportFindings(_ context.Context, in *ingestv1.ExportFindingsRequest) (*ingestv1.ExportFindingsResponse, error) {
	resp := &ingestv1.ExportFindingsResponse{}
	for _, r := range e.records {
		resp.LastSequence = r.Sequence
		if r.Sequence > in.AfterSequence && len(resp.Findings) < int(in.Limit) {
			resp.Findings = append(resp.Findings, r)
		}
	}
	return resp, nil
}

// The whole service as a process: findings from a fake ingest, the running container from the
// Dynatrace stand-in (reporting the platform digest), and the notification sent after an inventory poll
// without anyone calling NotifyNewFindings.
func TestBinaryNotifiesAfterAPollWithoutBeingAsked(t *testing.T) {
	const (
		index    = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
		platform = "sha256:2222222222222222222222222222222222222222222222222222222222222222"
	)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	rec := func(seq int64, vuln string, level imagev1.RiskLevel) *ingestv1.FindingRecord {
		return &ingestv1.FindingRecord{Sequence: seq, Registry: "docker.io", Repository: "acme/api", Digest: index, Tags: []string{"1.0"},
			PlatformDigests: []string{platform}, VulnerabilityId: vuln, Title: vuln + ": bad", Provider: "Docker Scout",
			PackageName: "openssl", PackageVersion: "3.0.1", RiskLevel: level, RiskScore: 9.8, DetectedAt: timestamppb.New(time.Now().Add(-time.Hour))}
	}
	ingestv1.RegisterIngestServiceServer(gs, &exportOnly{records: []*ingestv1.FindingRecord{
		rec(1, "CVE-2026-0001", imagev1.RiskLevel_RISK_LEVEL_CRITICAL), rec(2, "CVE-2026-0002", imagev1.RiskLevel_RISK_LEVEL_HIGH)}})
	go gs.Serve(lis)
	t.Cleanup(gs.Stop)

	var mu sync.Mutex
	var bodies []string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(b))
		mu.Unlock()
	}))
	defer hook.Close()

	dtBin := testutil.BuildBinary(t, "tools/fakedynatrace")
	dtAddr := testutil.FreeAddr(t)
	testutil.StartProcess(t, dtBin, []string{"FAKEDT_ENTITIES_TOKEN=tok"}, "-addr", dtAddr, "-events-file", filepath.Join(t.TempDir(), "ev.jsonl"))
	entities, _ := json.Marshal([]map[string]any{
		{"entityId": "CONTAINER_GROUP_INSTANCE-1", "type": "CONTAINER_GROUP_INSTANCE", "displayName": "api",
			"properties": map[string]any{"containerImageDigest": platform, "containerStatus": "running", "containerImageName": "acme/api"}},
		{"entityId": "PROCESS_GROUP_INSTANCE-1", "type": "PROCESS_GROUP_INSTANCE", "properties": map[string]any{"releasesStage": "production"},
			"fromRelationships": map[string]any{"isPgiOfCgi": []map[string]any{{"id": "CONTAINER_GROUP_INSTANCE-1", "type": "CONTAINER_GROUP_INSTANCE"}}}},
	})
	testutil.Eventually(t, 20*time.Second, func() bool {
		req, _ := http.NewRequest(http.MethodPut, "http://"+dtAddr+"/_fake/entities", bytes.NewReader(entities))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusNoContent
	}, "stand-in not ready")

	bin := testutil.BuildBinary(t, "services/runtime/cmd/runtime")
	addr := testutil.FreeAddr(t)
	p := testutil.StartProcess(t, bin, []string{
		"LISTEN_ADDR=" + addr, "RUNTIME_DB=" + filepath.Join(t.TempDir(), "runtime.db"), "INGEST_ADDR=" + lis.Addr().String(),
		"RUNTIME_POLL_INTERVAL=300ms", "DT_API_URL=http://" + dtAddr, "DT_ENTITIES_TOKEN=tok", "NOTIFY_WEBHOOK_URL=" + hook.URL,
	})
	testutil.WaitServing(t, addr)
	testutil.Eventually(t, 15*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(bodies) >= 1
	}, "no notification after the polls")
	time.Sleep(time.Second) // several more polls: nothing is sent twice
	mu.Lock()
	if len(bodies) != 1 || !strings.Contains(bodies[0], `"vulnerability_id":"CVE-2026-0001"`) || !strings.Contains(bodies[0], `"release_stage":"production"`) {
		t.Errorf("webhook bodies %q: want one, for the critical CVE-2026-0001 in production", bodies)
	}
	mu.Unlock()

	c := triagev1.NewTriageServiceClient(testutil.Dial(t, addr))
	resp, err := c.ListPrioritizedFindings(t.Context(), &triagev1.ListPrioritizedFindingsRequest{})
	if err != nil || resp.TotalCount != 1 || resp.Findings[0].Images[0].Containers[0].ImageDigest != platform {
		t.Errorf("prioritized %v, %v", resp, err)
	}
	if n, err := c.NotifyNewFindings(t.Context(), &triagev1.NotifyNewFindingsRequest{}); err != nil || n.Rows != 1 || n.NotificationsQueued != 0 {
		t.Errorf("NotifyNewFindings %v, %v: want 1 row, nothing queued again", n, err)
	}
	if code := p.Stop(10 * time.Second); code != 0 {
		t.Errorf("exit %d", code)
	}
}
