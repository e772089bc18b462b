package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	discoveryv1 "github.com/scoutbridge/scoutbridge/gen/scoutbridge/discovery/v1"
	imagev1 "github.com/scoutbridge/scoutbridge/gen/scoutbridge/image/v1"
	ingestv1 "github.com/scoutbridge/scoutbridge/gen/scoutbridge/ingest/v1"
	orchestratorv1 "github.com/scoutbridge/scoutbridge/gen/scoutbridge/orchestrator/v1"
	triagev1 "github.com/scoutbridge/scoutbridge/gen/scoutbridge/triage/v1"
	"github.com/scoutbridge/scoutbridge/pkg/testutil"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// endpoints is a running suite as the test reaches it.
type endpoints struct {
	Orchestrator, Discovery, Ingest, Runtime string // gRPC host:port
	Dynatrace                                string // base URL of the Dynatrace stand-in
}

// clients for every service of a suite.
type clients struct {
	orch      orchestratorv1.OrchestratorServiceClient
	discovery discoveryv1.DiscoveryServiceClient
	ingest    ingestv1.IngestServiceClient
	triage    triagev1.TriageServiceClient
}

func dialSuite(t testing.TB, ep endpoints) clients {
	return clients{
		orch:      orchestratorv1.NewOrchestratorServiceClient(testutil.Dial(t, ep.Orchestrator)),
		discovery: discoveryv1.NewDiscoveryServiceClient(testutil.Dial(t, ep.Discovery)),
		ingest:    ingestv1.NewIngestServiceClient(testutil.Dial(t, ep.Ingest)),
		triage:    triagev1.NewTriageServiceClient(testutil.Dial(t, ep.Runtime)),
	}
}

// discoverAll lists what discovery sees in the demo organization over the first run's window (the
// orchestrator's INITIAL_LOOKBACK, 24 h): the run must find the same images.
func discoverAll(t *testing.T, c clients) []*imagev1.Image {
	t.Helper()
	stream, err := c.discovery.DiscoverImages(t.Context(), &discoveryv1.DiscoverImagesRequest{
		Namespaces: []string{"acme"}, PushedAfter: timestamppb.New(time.Now().Add(-24 * time.Hour)),
	})
	if err != nil {
		t.Fatal(err)
	}
	var images []*imagev1.Image
	for {
		resp, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("DiscoverImages: %v", err)
		}
		if e := resp.GetNamespaceError(); e != nil {
			t.Fatalf("namespace %s failed: %s %s", e.GetNamespace(), e.GetCode(), e.GetMessage())
		}
		images = append(images, resp.GetImage())
	}
	return images
}

// setRuntimeStages tells the Dynatrace stand-in which repositories run in which stage (entities API).
func setRuntimeStages(t *testing.T, dynatrace string, images []*imagev1.Image, stages map[string]string) {
	t.Helper()
	var entities []map[string]any
	for _, img := range images {
		stage, ok := stages[img.GetRepository()]
		if !ok {
			continue
		}
		id := img.GetDigest()[7:19]
		cgi := "CONTAINER_GROUP_INSTANCE-" + id
		name := strings.SplitN(img.GetRepository(), "/", 2)[1]
		entities = append(entities,
			map[string]any{"entityId": cgi, "type": "CONTAINER_GROUP_INSTANCE", "displayName": name,
				"properties": map[string]any{"containerImageDigest": img.GetDigest(), "containerStatus": "state=running",
					"containerImageName": "docker.io/" + img.GetRepository(), "workloadName": name}},
			map[string]any{"entityId": "PROCESS_GROUP_INSTANCE-" + id, "type": "PROCESS_GROUP_INSTANCE", "displayName": name,
				"properties":        map[string]any{"releasesStage": stage, "releasesProduct": "acme"},
				"fromRelationships": map[string]any{"isPgiOfCgi": []any{map[string]any{"id": cgi, "type": "CONTAINER_GROUP_INSTANCE"}}}})
	}
	body, _ := json.Marshal(map[string]any{"entities": entities})
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPut, dynatrace+"/_fake/entities", bytes.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("PUT /_fake/entities: %s", resp.Status)
	}
}

// runToEnd starts a run and follows WatchRun until the run finishes; it returns the final run.
func runToEnd(t testing.TB, c clients, req *orchestratorv1.StartRunRequest) *orchestratorv1.Run {
	t.Helper()
	started, err := c.orch.StartRun(t.Context(), req)
	if err != nil {
		t.Fatalf("StartRun: %v", err)
	}
	id := started.GetRun().GetRunId()
	stream, err := c.orch.WatchRun(t.Context(), &orchestratorv1.WatchRunRequest{RunId: id})
	if err != nil {
		t.Fatalf("WatchRun: %v", err)
	}
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		ev, err := stream.Recv()
		if err != nil {
			break // the stream ends when the run finishes
		}
		if ev.GetType() == orchestratorv1.RunEventType_RUN_EVENT_TYPE_RUN_FINISHED {
			break
		}
	}
	got, err := c.orch.GetRun(t.Context(), &orchestratorv1.GetRunRequest{RunId: id})
	if err != nil {
		t.Fatalf("GetRun: %v", err)
	}
	if got.GetRun().GetFinishedAt() == nil {
		t.Fatalf("run %s did not finish within 3 minutes: %v", id, got.GetRun())
	}
	return got.GetRun()
}

// dynatraceEvents reads every event the Dynatrace stand-in accepted.
func dynatraceEvents(t testing.TB, base string) []map[string]any {
	t.Helper()
	resp, err := http.Get(base + "/_fake/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out []map[string]any
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var ev map[string]any
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("stand-in recorded a line that is not JSON: %v", err)
		}
		out = append(out, ev)
	}
	return out
}

// checkDelivery asserts what a Dynatrace user would see: one scan event per image, every stored finding
// delivered exactly once, nothing queued.
func checkDelivery(t *testing.T, c clients, ep endpoints, images []*imagev1.Image) {
	t.Helper()
	var stats *ingestv1.GetIngestStatsResponse
	testutil.Eventually(t, 60*time.Second, func() bool {
		var err error
		stats, err = c.ingest.GetIngestStats(t.Context(), &ingestv1.GetIngestStatsRequest{})
		if err != nil || len(stats.GetSinks()) == 0 {
			return false
		}
		for _, s := range stats.GetSinks() {
			if s.GetQueued() != 0 {
				return false
			}
		}
		return true
	}, "the outbox did not drain: %v", stats)

	events := dynatraceEvents(t, ep.Dynatrace)
	scans := map[string]int{}
	eventIDs := map[string]int{}
	findingIDs := map[string]int{}
	for _, ev := range events {
		eventIDs[fmt.Sprint(ev["event.id"])]++
		switch ev["event.type"] {
		case "VULNERABILITY_SCAN":
			scans[fmt.Sprint(ev["container_image.digest"])]++
		case "VULNERABILITY_FINDING":
			findingIDs[fmt.Sprint(ev["finding.id"])]++
			if ev["component.name"] == nil || ev["dt.security.risk.level"] == nil {
				t.Errorf("finding without component.name or risk level: %v", ev["event.id"])
			}
		}
	}
	for _, img := range images {
		if scans[img.GetDigest()] != 1 {
			t.Errorf("%s@%s: %d VULNERABILITY_SCAN events in Dynatrace, want 1", img.GetRepository(), img.GetDigest(), scans[img.GetDigest()])
		}
	}
	for id, n := range eventIDs {
		if n != 1 {
			t.Errorf("event.id %s delivered %d times", id, n)
		}
	}
	if int64(len(findingIDs)) != stats.GetFindingsStored() || stats.GetFindingsStored() == 0 {
		t.Errorf("Dynatrace has %d distinct findings, the store %d", len(findingIDs), stats.GetFindingsStored())
	}
	if len(scans) != len(images) {
		t.Errorf("scan events for %d digests, discovered %d", len(scans), len(images))
	}
}

// checkPrioritized asserts the runtime answer: rows only for the repository running in production.
func checkPrioritized(t *testing.T, c clients, wantRepos []string) *triagev1.ListPrioritizedFindingsResponse {
	t.Helper()
	var rows *triagev1.ListPrioritizedFindingsResponse
	testutil.Eventually(t, 60*time.Second, func() bool {
		var err error
		rows, err = c.triage.ListPrioritizedFindings(t.Context(), &triagev1.ListPrioritizedFindingsRequest{})
		return err == nil && len(rows.GetFindings()) > 0
	}, "no prioritized rows appeared")
	repos := map[string]bool{}
	for _, r := range rows.GetFindings() {
		repos[r.GetRepository()] = true
		if r.GetRiskLevel() != imagev1.RiskLevel_RISK_LEVEL_CRITICAL || !r.GetNew() || r.GetAffectedImagesCount() < 1 {
			t.Errorf("row %s in %s: level %s new %v images %d", r.GetVulnerabilityId(), r.GetRepository(), r.GetRiskLevel(), r.GetNew(), r.GetAffectedImagesCount())
		}
	}
	var got []string
	for r := range repos {
		got = append(got, r)
	}
	sort.Strings(got)
	if fmt.Sprint(got) != fmt.Sprint(wantRepos) {
		t.Errorf("prioritized rows cover %v, want %v (only what runs in production)", got, wantRepos)
	}
	funnel, err := c.triage.GetAlertReduction(t.Context(), &triagev1.GetAlertReductionRequest{})
	if err != nil {
		t.Fatal(err)
	}
	stages := funnel.GetStages()
	for i := 1; i < len(stages); i++ {
		if stages[i].GetFindings() > stages[i-1].GetFindings() {
			t.Errorf("funnel widens from %s (%d) to %s (%d)", stages[i-1].GetName(), stages[i-1].GetFindings(), stages[i].GetName(), stages[i].GetFindings())
		}
	}
	if len(stages) != 5 || stages[0].GetFindings() <= stages[4].GetFindings() {
		t.Errorf("funnel does not narrow: %v", stages)
	}
	return rows
}
