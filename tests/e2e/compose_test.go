package e2e

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"

	"testing"
	"time"

	orchestratorv1 "github.com/scoutbridge/scoutbridge/gen/scoutbridge/orchestrator/v1"
	"github.com/scoutbridge/scoutbridge/pkg/testutil"
)

// TestCompose runs the end-to-end scenario against the suite deployed with deploy/compose.yaml (demo
// profile: the Docker Hub and Dynatrace stand-ins), then restarts the orchestrator container and checks
// that its state survived on the named volume. It needs the images from `make images` and a Docker
// Engine; `make test-compose` (and .ci/run) sets SCOUTBRIDGE_COMPOSE_TEST=1.
func TestCompose(t *testing.T) {
	if os.Getenv("SCOUTBRIDGE_COMPOSE_TEST") != "1" {
		t.Skip("set SCOUTBRIDGE_COMPOSE_TEST=1 (make test-compose) to run the compose test")
	}
	root := testutil.RepoRoot(t)
	docker, err := exec.LookPath("docker")
	if err != nil {
		t.Fatal("docker CLI not on PATH")
	}

	// The scanner container mounts this as its Docker config: the Scout stand-in as a CLI plugin. It must
	// be readable by the container's non-root user.
	cfg := filepath.Join(t.TempDir(), "docker-config")
	must(t, os.MkdirAll(filepath.Join(cfg, "cli-plugins"), 0o755))
	for d := cfg; d != filepath.Dir(os.TempDir()) && d != "/"; d = filepath.Dir(d) {
		_ = os.Chmod(d, 0o755)
	}
	scout := testutil.BuildBinary(t, "tools/fakescout")
	b, err := os.ReadFile(scout)
	must(t, err)
	must(t, os.WriteFile(filepath.Join(cfg, "cli-plugins", "docker-scout"), b, 0o755))
	must(t, os.WriteFile(filepath.Join(cfg, "fakescout.json"), []byte(`{"default": {"latency_ms": 50, "findings": 20, "behavior": "ok"}}`), 0o644))

	ports := map[string]string{}
	for _, name := range []string{"ORCHESTRATOR", "DISCOVERY", "SCANNER", "INGEST", "RUNTIME", "FAKEHUB", "FAKEDYNATRACE"} {
		_, port, _ := net.SplitHostPort(testutil.FreeAddr(t))
		ports[name] = port
	}
	project := fmt.Sprintf("sbe2e%d", time.Now().UnixNano()%1_000_000)
	env := append(os.Environ(),
		"SCOUTBRIDGE_DOCKER_CONFIG="+cfg, "SCOUTBRIDGE_DOCKER_BIN="+docker,
		"DISCOVERY_NAMESPACES=acme", "DOCKERHUB_API_URL=http://fakehub:8081",
		"DT_INGEST_URL=http://fakedynatrace:8083/platform/ingest/v1/security.events", "DT_API_TOKEN="+dtIngestToken,
		"DT_API_URL=http://fakedynatrace:8083", "DT_ENTITIES_TOKEN="+dtEntitiesToken,
		"RUNTIME_POLL_INTERVAL=1s", "RUNTIME_SYNC_INTERVAL=1s", "RUN_INTERVAL=0", "SCAN_CONCURRENCY=4")
	for name, port := range ports {
		env = append(env, name+"_PORT="+port)
	}
	compose := func(args ...string) (string, error) {
		cmd := exec.Command("docker-compose", append([]string{"-f", filepath.Join(root, "deploy", "compose.yaml"),
			"--project-directory", filepath.Join(root, "deploy"), "-p", project, "--profile", "demo"}, args...)...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	t.Cleanup(func() {
		if t.Failed() {
			logs, _ := compose("logs", "--no-color", "--tail", "60")
			t.Logf("compose logs:\n%s", logs)
		}
		if out, err := compose("down", "-v", "--remove-orphans"); err != nil {
			t.Logf("compose down: %v\n%s", err, out)
		}
	})
	if out, err := compose("up", "-d"); err != nil {
		t.Fatalf("compose up: %v\n%s", err, out)
	}

	ep := endpoints{
		Orchestrator: "127.0.0.1:" + ports["ORCHESTRATOR"], Discovery: "127.0.0.1:" + ports["DISCOVERY"],
		Ingest: "127.0.0.1:" + ports["INGEST"], Runtime: "127.0.0.1:" + ports["RUNTIME"],
		Dynatrace: "http://127.0.0.1:" + ports["FAKEDYNATRACE"],
	}
	for _, a := range []string{ep.Orchestrator, ep.Discovery, "127.0.0.1:" + ports["SCANNER"], ep.Ingest, ep.Runtime} {
		testutil.WaitServing(t, a)
	}
	waitHTTP(t, ep.Dynatrace+"/_fake/stats")
	c := dialSuite(t, ep)

	images := discoverAll(t, c)
	setRuntimeStages(t, ep.Dynatrace, images, map[string]string{"acme/billing": "production", "acme/web": "staging"})
	run := runToEnd(t, c, &orchestratorv1.StartRunRequest{})
	if run.GetState() != orchestratorv1.RunState_RUN_STATE_SUCCEEDED || run.GetCounts().GetImagesIngested() != int64(len(images)) {
		t.Fatalf("run %s: %s, counts %v (%s)", run.GetRunId(), run.GetState(), run.GetCounts(), run.GetError())
	}
	checkDelivery(t, c, ep, images)
	checkPrioritized(t, c, []string{"acme/billing"})

	// The orchestrator's state lives on its volume: a restarted container knows the run and the
	// watermark, so the next run scans nothing.
	if out, err := compose("restart", "orchestrator"); err != nil {
		t.Fatalf("restart orchestrator: %v\n%s", err, out)
	}
	testutil.WaitServing(t, ep.Orchestrator)
	c = dialSuite(t, ep)
	runs, err := c.orch.ListRuns(t.Context(), &orchestratorv1.ListRunsRequest{})
	if err != nil || len(runs.GetRuns()) == 0 || runs.GetRuns()[0].GetRunId() != run.GetRunId() {
		t.Fatalf("after a restart ListRuns = %v, %v; want run %s", runs, err, run.GetRunId())
	}
	again := runToEnd(t, c, &orchestratorv1.StartRunRequest{})
	if again.GetCounts().GetImagesScanned() != 0 {
		t.Errorf("after a restart the next run scanned %d images, want 0", again.GetCounts().GetImagesScanned())
	}
}
