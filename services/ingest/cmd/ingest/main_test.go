package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	imagev1 "github.com/scoutbridge/scoutbridge/gen/scoutbridge/image/v1"
	ingestv1 "github.com/scoutbridge/scoutbridge/gen/scoutbridge/ingest/v1"
	"github.com/scoutbridge/scoutbridge/pkg/testutil"
	"github.com/scoutbridge/scoutbridge/services/ingest/internal/semdict"
	"github.com/scoutbridge/scoutbridge/services/ingest/internal/server"
	"github.com/scoutbridge/scoutbridge/services/ingest/internal/store"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"
)

const token = "dt0c01.CRASHTESTCRASHTESTCRASHT.crashcrashcrashcrashcrashcrashcrashcrashcrashcrashcrashcrash12"

func startFake(t testing.TB) string {
	t.Helper()
	bin := testutil.BuildBinary(t, "./tools/fakedynatrace")
	addr := testutil.FreeAddr(t)
	testutil.StartProcess(t, bin, []string{"LISTEN_ADDR=" + addr, "FAKEDT_API_TOKEN=" + token,
		"FAKEDT_EVENTS_FILE=" + filepath.Join(t.TempDir(), "events.jsonl")})
	base := "http://" + addr
	testutil.Eventually(t, 10*time.Second, func() bool {
		r, err := http.Get(base + "/healthz")
		if err == nil {
			r.Body.Close()
		}
		return err == nil
	}, "fakedynatrace did not start")
	return base
}

func received(t testing.TB, base string) (byEvent map[string]int, findings map[string]bool) {
	t.Helper()
	r, err := http.Get(base + "/_fake/events")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	byEvent, findings = map[string]int{}, map[string]bool{}
	sc := bufio.NewScanner(r.Body)
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		var e struct {
			EventID   string `json:"event.id"`
			FindingID string `json:"finding.id"`
		}
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatal(err)
		}
		byEvent[e.EventID]++
		if e.FindingID != "" {
			findings[e.FindingID] = true
		}
	}
	return byEvent, findings
}

func crashReport(i int) *imagev1.ScanReport {
	r := &imagev1.ScanReport{ScanId: fmt.Sprintf("crash-%03d", i), Status: imagev1.ScanStatus_SCAN_STATUS_COMPLETED,
		Image: &imagev1.Image{Registry: "docker.io", Repository: fmt.Sprintf("acme/svc%d", i), Digest: fmt.Sprintf("sha256:%064x", i+1),
			Tags: []string{"latest"}, Platforms: []*imagev1.Platform{{Os: "linux", Architecture: "amd64", Digest: fmt.Sprintf("sha256:%064x", i+1000)}}},
		CompletedAt: timestamppb.New(time.Date(2026, 11, 20, 18, 0, i, 0, time.UTC)), Scanner: &imagev1.Scanner{Name: "Docker Scout"}}
	for j := range 50 {
		r.Findings = append(r.Findings, &imagev1.Finding{VulnerabilityId: fmt.Sprintf("CVE-2026-%04d", j), Severity: imagev1.Severity_SEVERITY_HIGH,
			Description: strings.Repeat("advisory ", 30), Package: &imagev1.Package{Type: "npm", Name: fmt.Sprintf("p%d", j), Version: "1.0.0"}})
	}
	return r
}

// TestKillDuringDeliveryLosesNothing kills the real ingest binary with SIGKILL while it posts to the
// stand-in, restarts it on the same store, and checks every finding arrives.
func TestKillDuringDeliveryLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills real processes")
	}
	fake := startFake(t)
	// Slow every post so the kill lands mid-delivery.
	r, err := http.Post(fake+"/_fake/faults", "application/json", strings.NewReader(`{"latency_ms":100,"ratio":1}`))
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()

	bin := testutil.BuildBinary(t, "./services/ingest/cmd/ingest")
	db := filepath.Join(t.TempDir(), "ingest.db")
	addr := testutil.FreeAddr(t)
	env := []string{"LISTEN_ADDR=" + addr, "INGEST_DB=" + db, "DT_INGEST_URL=" + fake + "/platform/ingest/v1/security.events",
		"DT_API_TOKEN=" + token, "INGEST_MAX_BATCH_BYTES=30000", "OTEL_EXPORTER_OTLP_ENDPOINT="}
	p := testutil.StartProcess(t, bin, env)
	testutil.WaitServing(t, addr)
	client := ingestv1.NewIngestServiceClient(testutil.Dial(t, addr))

	wantFindings := map[string]bool{}
	wantEvents := map[string]bool{}
	for i := range 20 {
		rep := crashReport(i)
		res, err := client.IngestScan(t.Context(), &ingestv1.IngestScanRequest{Report: rep})
		if err != nil {
			t.Fatalf("ingest %d: %v", i, err)
		}
		if res.GetEventsStored() != 51 || res.GetEventsQueued() != 51 || res.GetFindings().GetHigh() != 50 {
			t.Fatalf("ingest %d answered %v", i, res)
		}
		b, _ := semdict.Map(rep, semdict.Options{})
		wantEvents[b.Scan.EventID] = true
		for _, f := range b.Findings {
			wantFindings[f.FindingID] = true
			wantEvents[f.EventID] = true
		}
	}
	testutil.Eventually(t, 30*time.Second, func() bool { n, _ := received(t, fake); return len(n) >= 100 }, "delivery did not start")
	p.Kill()
	<-p.Done()
	before, _ := received(t, fake)
	if len(before) >= len(wantEvents) {
		t.Fatalf("everything (%d) arrived before the kill: the test proves nothing", len(before))
	}
	t.Logf("killed with %d of %d events delivered", len(before), len(wantEvents))

	del, _ := http.NewRequest(http.MethodDelete, fake+"/_fake/faults", nil)
	if resp, err := http.DefaultClient.Do(del); err == nil {
		resp.Body.Close()
	}
	p2 := testutil.StartProcess(t, bin, env)
	testutil.WaitServing(t, addr)
	client = ingestv1.NewIngestServiceClient(testutil.Dial(t, addr))

	testutil.Eventually(t, 60*time.Second, func() bool {
		_, f := received(t, fake)
		return len(f) == len(wantFindings)
	}, "not every finding arrived after the restart")
	byEvent, findings := received(t, fake)
	dups := 0
	for id, n := range byEvent {
		if !wantEvents[id] {
			t.Errorf("unexpected event.id %s arrived", id)
		}
		dups += n - 1
	}
	for id := range wantFindings {
		if !findings[id] {
			t.Errorf("finding %s lost", id)
		}
	}
	if len(byEvent) != len(wantEvents) {
		t.Errorf("%d distinct events arrived, want %d", len(byEvent), len(wantEvents))
	}
	t.Logf("every one of %d findings arrived; %d events were re-sent after the crash (same event.id)", len(wantFindings), dups)

	// The store survived too: the scans are duplicates, the stats add up, nothing waits.
	again, err := client.IngestScan(t.Context(), &ingestv1.IngestScanRequest{Report: crashReport(3)})
	if err != nil || !again.GetDuplicate() || again.GetEventsStored() != 0 {
		t.Fatalf("re-ingest after restart: %v %v", again, err)
	}
	testutil.Eventually(t, 10*time.Second, func() bool {
		st, err := client.GetIngestStats(t.Context(), &ingestv1.GetIngestStatsRequest{})
		return err == nil && st.GetScansStored() == 20 && st.GetFindingsStored() == 1000 && len(st.GetSinks()) == 1 &&
			st.GetSinks()[0].GetQueued() == 0 && st.GetSinks()[0].GetState() == ingestv1.SinkState_SINK_STATE_OK
	}, "stats do not add up after the restart")

	for _, proc := range []*testutil.Process{p, p2} {
		if strings.Contains(proc.Output.String(), token) {
			t.Error("the Dynatrace token appeared in the service's output")
		}
	}
}

// TestRPCs drives every RPC of the real binary without any sink.
func TestRPCs(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a real process")
	}
	bin := testutil.BuildBinary(t, "./services/ingest/cmd/ingest")
	db := filepath.Join(t.TempDir(), "ingest.db")
	addr := testutil.FreeAddr(t)
	p := testutil.StartProcess(t, bin, []string{"LISTEN_ADDR=" + addr, "INGEST_DB=" + db, "DT_INGEST_URL=", "INGEST_JSONL_PATH="})
	testutil.WaitServing(t, addr)
	c := ingestv1.NewIngestServiceClient(testutil.Dial(t, addr))
	ctx := t.Context()

	bad := crashReport(1)
	bad.Findings[7].Package.Name = ""
	_, err := c.IngestScan(ctx, &ingestv1.IngestScanRequest{Report: bad})
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "findings[7].package.name") {
		t.Fatalf("a report without a package name: %v, want InvalidArgument naming findings[7].package.name", err)
	}
	for i := range 3 {
		if _, err := c.IngestScan(ctx, &ingestv1.IngestScanRequest{Report: crashReport(i)}); err != nil {
			t.Fatal(err)
		}
	}
	page, err := c.ListFindings(ctx, &ingestv1.ListFindingsRequest{Digest: fmt.Sprintf("sha256:%064x", 1001), PageSize: 30})
	if err != nil || len(page.GetFindings()) != 30 || page.GetNextPageToken() == "" {
		t.Fatalf("list by platform digest: %d findings, token %q, %v", len(page.GetFindings()), page.GetNextPageToken(), err)
	}
	f := page.GetFindings()[0]
	if f.GetRepository() != "acme/svc1" || f.GetRiskLevel() != imagev1.RiskLevel_RISK_LEVEL_HIGH || f.GetRiskScore() != 8.9 || len(f.GetPlatformDigests()) != 1 {
		t.Fatalf("finding record %v", f)
	}
	if _, err := c.ListFindings(ctx, &ingestv1.ListFindingsRequest{PageToken: "nope"}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("bad page token: %v", err)
	}
	exp, err := c.ExportFindings(ctx, &ingestv1.ExportFindingsRequest{AfterSequence: 0, Limit: 200})
	if err != nil || len(exp.GetFindings()) != 150 || exp.GetLastSequence() != exp.GetFindings()[149].GetSequence() {
		t.Fatalf("export: %d findings, last %d, %v", len(exp.GetFindings()), exp.GetLastSequence(), err)
	}
	st, err := c.GetIngestStats(ctx, &ingestv1.GetIngestStatsRequest{})
	if err != nil || st.GetEventsStored() != 153 || len(st.GetSinks()) != 0 {
		t.Fatalf("stats %v %v", st, err)
	}
	if dl, err := c.ListDeadLetters(ctx, &ingestv1.ListDeadLettersRequest{}); err != nil || len(dl.GetDeadLetters()) != 0 {
		t.Fatalf("dead letters %v %v", dl, err)
	}
	if _, err := c.RedriveDeadLetters(ctx, &ingestv1.RedriveDeadLettersRequest{}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("redrive without selection: %v", err)
	}
	if !strings.Contains(p.Output.String(), "events stay in the store") || !strings.Contains(p.Output.String(), db) {
		t.Errorf("the log does not say where events stay:\n%s", p.Output.String())
	}
}

// TestRefusedTokenDegradesTheService runs the real binary with a token the stand-in refuses: the sink
// pauses, and a user sees it in GetIngestStats, in the sink's health and in the log, while ingest keeps
// working and the token appears nowhere.
func TestRefusedTokenDegradesTheService(t *testing.T) {
	if testing.Short() {
		t.Skip("builds real processes")
	}
	fake := startFake(t)
	const wrong = "dt0c01.WRONGWRONGWRONGWRONGWRON.wrongwrongwrongwrongwrongwrongwrongwrongwrongwrongwrongwrong12"
	bin := testutil.BuildBinary(t, "./services/ingest/cmd/ingest")
	addr := testutil.FreeAddr(t)
	p := testutil.StartProcess(t, bin, []string{"LISTEN_ADDR=" + addr, "INGEST_DB=" + filepath.Join(t.TempDir(), "ingest.db"),
		"DT_INGEST_URL=" + fake + "/platform/ingest/v1/security.events", "DT_API_TOKEN=" + wrong, "OTEL_EXPORTER_OTLP_ENDPOINT="})
	testutil.WaitServing(t, addr)
	conn := testutil.Dial(t, addr)
	client := ingestv1.NewIngestServiceClient(conn)
	if _, err := client.IngestScan(t.Context(), &ingestv1.IngestScanRequest{Report: crashReport(0)}); err != nil {
		t.Fatal(err)
	}
	var sk *ingestv1.SinkStats
	testutil.Eventually(t, 20*time.Second, func() bool {
		st, err := client.GetIngestStats(t.Context(), &ingestv1.GetIngestStatsRequest{})
		if err != nil || len(st.GetSinks()) != 1 {
			return false
		}
		sk = st.GetSinks()[0]
		return sk.GetState() == ingestv1.SinkState_SINK_STATE_PAUSED
	}, "GetIngestStats never showed the sink paused")
	if sk.GetQueued() != 51 || sk.GetSent() != 0 || !strings.Contains(sk.GetLastError(), "401") {
		t.Errorf("paused sink %v: want its 51 events queued and the 401 named", sk)
	}
	hc := healthpb.NewHealthClient(conn)
	if h, err := hc.Check(t.Context(), &healthpb.HealthCheckRequest{Service: "ingest.sink.dynatrace"}); err != nil || h.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Errorf("sink health %v %v, want NOT_SERVING", h, err)
	}
	if h, err := hc.Check(t.Context(), &healthpb.HealthCheckRequest{}); err != nil || h.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("overall health %v %v, want SERVING: ingest still works", h, err)
	}
	if _, err := client.IngestScan(t.Context(), &ingestv1.IngestScanRequest{Report: crashReport(1)}); err != nil {
		t.Errorf("ingest while paused: %v", err)
	}
	testutil.Eventually(t, 5*time.Second, func() bool { return strings.Contains(p.Output.String(), "service degraded") }, "the log does not say the service is degraded")
	if strings.Contains(p.Output.String(), wrong) || strings.Contains(sk.GetLastError(), wrong) {
		t.Error("the token leaked into the log or the stats")
	}
}

// Concurrent IngestScan calls share commits (store group commit); an invalid report among them is
// refused with InvalidArgument and the others are stored, each once.
func TestConcurrentScansAreAnsweredEachOnItsOwn(t *testing.T) {
	st, err := store.Open(t.Context(), filepath.Join(t.TempDir(), "ingest.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	srv := server.New(st, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	reports := make([]*imagev1.ScanReport, 12)
	for i := range reports {
		reports[i] = benchReport(i, 5)
	}
	reports[5].Image.Digest = "latest" // not a sha256 digest
	codesOf := make([]codes.Code, len(reports))
	var wg sync.WaitGroup
	for i, r := range reports {
		wg.Go(func() {
			_, err := srv.IngestScan(t.Context(), &ingestv1.IngestScanRequest{Report: r})
			codesOf[i] = status.Code(err)
		})
	}
	wg.Wait()
	for i, c := range codesOf {
		if want := map[bool]codes.Code{true: codes.InvalidArgument, false: codes.OK}[i == 5]; c != want {
			t.Errorf("report %d answered %v, want %v", i, c, want)
		}
	}
	stats, err := srv.GetIngestStats(t.Context(), &ingestv1.GetIngestStatsRequest{})
	if err != nil || stats.GetScansStored() != 11 || stats.GetEventsStored() != 11*6 {
		t.Fatalf("stats %v %v, want the 11 valid scans with 6 events each", stats, err)
	}
}
