package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	orchestratorv1 "github.com/scoutbridge/scoutbridge/gen/scoutbridge/orchestrator/v1"
	"github.com/scoutbridge/scoutbridge/pkg/testutil"
	"github.com/scoutbridge/scoutbridge/services/orchestrator/internal/peertest"
)

const secret = "kill-test-token-0123456789"

// start runs the real binary against in-test peers on loopback.
func start(t *testing.T, bin, addr, db, tokenFile, peersAddr string) *testutil.Process {
	t.Helper()
	p := testutil.StartProcess(t, bin, []string{
		"LISTEN_ADDR=" + addr, "ORCHESTRATOR_DB=" + db, "RUN_INTERVAL=0", "SCAN_CONCURRENCY=2",
		"DISCOVERY_ADDR=" + peersAddr, "SCANNER_ADDR=" + peersAddr, "INGEST_ADDR=" + peersAddr, "RUNTIME_ADDR=" + peersAddr,
		"ORCHESTRATOR_TOKEN_FILE=" + tokenFile, "RETRY_INITIAL_BACKOFF=10ms", "OTEL_SDK_DISABLED=true",
	})
	testutil.WaitServing(t, addr)
	return p
}

func TestKilledMidRunTheOrchestratorResumesAndIngestsEveryImageExactlyOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := testutil.BuildBinary(t, "./services/orchestrator/cmd/orchestrator")
	peers := peertest.Start(t)
	peers.Scanner.Latency = 50 * time.Millisecond
	const n = 40
	for i := range n {
		peers.Discovery.AddImages(peertest.Image("acme/api", i, time.Now().Add(-time.Hour)))
	}
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	db, addr := filepath.Join(dir, "orchestrator.db"), testutil.FreeAddr(t)
	proc := start(t, bin, addr, db, tokenFile, peers.Addr)
	client := orchestratorv1.NewOrchestratorServiceClient(testutil.Dial(t, addr))

	if _, err := client.StartRun(t.Context(), &orchestratorv1.StartRunRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("StartRun without the token: %v, want Unauthenticated", err)
	}
	authed := metadata.AppendToOutgoingContext(t.Context(), "authorization", "Bearer "+secret)
	started, err := client.StartRun(authed, &orchestratorv1.StartRunRequest{})
	if err != nil {
		t.Fatal(err)
	}
	id := started.GetRun().GetRunId()
	testutil.Eventually(t, 20*time.Second, func() bool { return len(peers.Ingest.Stored()) >= n/4 }, "nothing ingested before the kill")
	proc.Kill()
	if got := len(peers.Ingest.Stored()); got == n {
		t.Fatal("the run finished before the kill; the test proves nothing")
	}

	proc2 := start(t, bin, addr, db, tokenFile, peers.Addr)
	var final *orchestratorv1.GetRunResponse
	testutil.Eventually(t, 30*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		final, err = client.GetRun(ctx, &orchestratorv1.GetRunRequest{RunId: id})
		return err == nil && final.GetRun().GetFinishedAt() != nil
	}, "the resumed run did not finish")
	if final.GetRun().GetState() != orchestratorv1.RunState_RUN_STATE_SUCCEEDED || final.GetRun().GetCounts().GetImagesIngested() != n {
		t.Fatalf("resumed run %s: %v", id, final.GetRun())
	}
	stored := peers.Ingest.Stored()
	if len(stored) != n {
		t.Errorf("%d digests stored, want %d", len(stored), n)
	}
	for d, ids := range stored {
		if len(ids) != 1 {
			t.Errorf("%s stored %d times, want once", d, len(ids))
		}
	}
	runs, err := client.ListRuns(t.Context(), &orchestratorv1.ListRunsRequest{})
	if err != nil || len(runs.GetRuns()) != 1 {
		t.Errorf("runs after the restart: %v %v, want only the resumed one", runs, err)
	}
	if code := proc2.Stop(10 * time.Second); code != 0 {
		t.Errorf("exit code after SIGTERM: %d", code)
	}
	for _, out := range []string{proc.Output.String(), proc2.Output.String()} {
		if strings.Contains(out, secret) {
			t.Error("the log contains the token")
		}
	}
	if !strings.Contains(proc2.Output.String(), "resuming a run left running") {
		t.Error("the restart did not say it resumed the run")
	}
}
