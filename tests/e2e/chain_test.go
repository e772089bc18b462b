package e2e

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	orchestratorv1 "github.com/scoutbridge/scoutbridge/gen/scoutbridge/orchestrator/v1"
	"github.com/scoutbridge/scoutbridge/pkg/testutil"
)

const (
	dtIngestToken   = "dt0c01.E2ETESTINGESTTOKEN00000.0000000000000000000000000000000000000000000000000000000000000000"
	dtEntitiesToken = "dt0c01.E2ETESTENTITIESTOKEN000.0000000000000000000000000000000000000000000000000000000000000000"
)

// processSuite is the five services and the stand-ins as real processes on loopback.
type processSuite struct {
	endpoints
	procs        map[string]*testutil.Process
	dockerConfig string
	collector    *collector
}

// suiteOptions shape a process suite; the zero value is the demo organization with light Scout latency.
type suiteOptions struct {
	// ScoutConfig is fakescout.json (default: 50 ms per command, 20 findings per image).
	ScoutConfig string
	// HubArgs seed the Docker Hub stand-in (default: the demo organization "acme").
	HubArgs []string
	// Namespace is DISCOVERY_NAMESPACES (default "acme").
	Namespace string
	// LogLevel of the services (default debug, so a failing test shows everything).
	LogLevel string
}

// startProcessSuite builds every binary and starts it.
func startProcessSuite(t testing.TB, o suiteOptions) *processSuite {
	t.Helper()
	if o.ScoutConfig == "" {
		o.ScoutConfig = `{"default": {"latency_ms": 50, "findings": 20, "behavior": "ok"}}`
	}
	if o.HubArgs == nil {
		o.HubArgs = []string{"-demo"}
	}
	if o.Namespace == "" {
		o.Namespace = "acme"
	}
	if o.LogLevel == "" {
		o.LogLevel = "debug"
	}
	docker := testutil.DockerCLI(t) // the scanner drives Scout through it
	s := &processSuite{procs: map[string]*testutil.Process{}, collector: startCollector(t)}
	bins := map[string]string{}
	for _, pkg := range []string{
		"services/discovery/cmd/discovery", "services/scanner/cmd/scanner", "services/ingest/cmd/ingest",
		"services/orchestrator/cmd/orchestrator", "services/runtime/cmd/runtime",
		"tools/fakehub", "tools/fakedynatrace", "tools/fakescout",
	} {
		bins[filepath.Base(pkg)] = testutil.BuildBinary(t, pkg)
	}

	// Docker Scout stand-in, installed as a real CLI plugin.
	s.dockerConfig = t.TempDir()
	plugins := filepath.Join(s.dockerConfig, "cli-plugins")
	must(t, os.MkdirAll(plugins, 0o755))
	b, err := os.ReadFile(bins["fakescout"])
	must(t, err)
	must(t, os.WriteFile(filepath.Join(plugins, "docker-scout"), b, 0o755))
	must(t, os.WriteFile(filepath.Join(s.dockerConfig, "fakescout.json"), []byte(o.ScoutConfig), 0o644))

	data := t.TempDir()
	hubAddr, dtAddr := testutil.FreeAddr(t), testutil.FreeAddr(t)
	s.procs["fakehub"] = testutil.StartProcess(t, bins["fakehub"], nil, append([]string{"-listen", hubAddr, "-public-url", "http://" + hubAddr}, o.HubArgs...)...)
	s.procs["fakedynatrace"] = testutil.StartProcess(t, bins["fakedynatrace"],
		[]string{"FAKEDT_API_TOKEN=" + dtIngestToken, "FAKEDT_ENTITIES_TOKEN=" + dtEntitiesToken},
		"-addr", dtAddr, "-events-file", filepath.Join(data, "dt-events.jsonl"))
	s.Dynatrace = "http://" + dtAddr
	waitHTTP(t, "http://"+hubAddr+"/v2/namespaces/"+o.Namespace+"/repositories")
	waitHTTP(t, s.Dynatrace+"/_fake/stats")

	addr := map[string]string{}
	for _, name := range []string{"orchestrator", "discovery", "scanner", "ingest", "runtime"} {
		addr[name] = testutil.FreeAddr(t)
	}
	otel := []string{
		"OTEL_EXPORTER_OTLP_ENDPOINT=" + s.collector.URL, "OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf",
		"OTEL_BSP_SCHEDULE_DELAY=100", "OTEL_METRIC_EXPORT_INTERVAL=1000", "LOG_LEVEL=" + o.LogLevel,
	}
	start := func(name string, env ...string) {
		env = append(append(env, otel...), "LISTEN_ADDR="+addr[name])
		s.procs[name] = testutil.StartProcess(t, bins[name], env)
	}
	start("ingest", "INGEST_DB="+filepath.Join(data, "ingest.db"),
		"DT_INGEST_URL="+s.Dynatrace+"/platform/ingest/v1/security.events", "DT_API_TOKEN="+dtIngestToken)
	start("discovery", "DOCKERHUB_API_URL=http://"+hubAddr, "DISCOVERY_NAMESPACES="+o.Namespace)
	start("scanner", "DOCKER_BIN="+docker, "DOCKER_CONFIG="+s.dockerConfig, "SCANNER_CONCURRENCY=4")
	start("runtime", "RUNTIME_DB="+filepath.Join(data, "runtime.db"), "INGEST_ADDR="+addr["ingest"],
		"DT_API_URL="+s.Dynatrace, "DT_ENTITIES_TOKEN="+dtEntitiesToken, "RUNTIME_POLL_INTERVAL=1s", "RUNTIME_SYNC_INTERVAL=1s", "RUNTIME_DOCKER=false")
	start("orchestrator", "ORCHESTRATOR_DB="+filepath.Join(data, "orchestrator.db"), "RUN_INTERVAL=0",
		"DISCOVERY_ADDR="+addr["discovery"], "SCANNER_ADDR="+addr["scanner"], "INGEST_ADDR="+addr["ingest"],
		"RUNTIME_ADDR="+addr["runtime"], "SCAN_CONCURRENCY=4")
	for _, a := range addr {
		testutil.WaitServing(t, a)
	}
	s.Orchestrator, s.Discovery, s.Ingest, s.Runtime = addr["orchestrator"], addr["discovery"], addr["ingest"], addr["runtime"]
	return s
}

// TestChainEndToEnd is the user's story with real processes: discover the demo organization, scan every
// digest once through the real docker CLI, deliver every event to Dynatrace exactly once, find nothing
// new on the next run, prioritize what runs in production, with one trace across the chain.
func TestChainEndToEnd(t *testing.T) {
	s := startProcessSuite(t, suiteOptions{})
	c := dialSuite(t, s.endpoints)

	images := discoverAll(t, c)
	if len(images) < 3 {
		t.Fatalf("the demo organization has %d images pushed in the last day, want at least 3", len(images))
	}
	setRuntimeStages(t, s.Dynatrace, images, map[string]string{"acme/billing": "production", "acme/web": "staging"})

	run := runToEnd(t, c, &orchestratorv1.StartRunRequest{})
	if run.GetState() != orchestratorv1.RunState_RUN_STATE_SUCCEEDED {
		t.Fatalf("run %s: %s (%s)", run.GetRunId(), run.GetState(), run.GetError())
	}
	counts := run.GetCounts()
	if counts.GetImagesDiscovered() != int64(len(images)) || counts.GetImagesIngested() != int64(len(images)) {
		t.Fatalf("run counts %v, want %d images discovered and ingested", counts, len(images))
	}
	checkDelivery(t, c, s.endpoints, images)
	if n := scoutCalls(t, s.dockerConfig, "cves"); n != len(images) {
		t.Errorf("docker scout cves ran %d times for %d digests, want once per digest", n, len(images))
	}

	again := runToEnd(t, c, &orchestratorv1.StartRunRequest{})
	if again.GetCounts().GetImagesScanned() != 0 {
		t.Errorf("a second run over the next window scanned %d images, want 0", again.GetCounts().GetImagesScanned())
	}
	if n := scoutCalls(t, s.dockerConfig, "cves"); n != len(images) {
		t.Errorf("after the second run docker scout cves ran %d times, want still %d", n, len(images))
	}

	checkPrioritized(t, c, []string{"acme/billing"})
	checkOneTraceAcrossTheChain(t, s.collector)

	for _, name := range []string{"orchestrator", "runtime", "scanner", "discovery", "ingest"} {
		start := time.Now()
		if code := s.procs[name].Stop(10 * time.Second); code != 0 {
			t.Errorf("%s exited %d after SIGTERM, want 0", name, code)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("%s took %s to stop", name, d)
		}
	}
}

// checkOneTraceAcrossTheChain finds the trace of a scanned image: it must hold spans of all four
// pipeline services, the Scout child process included.
func checkOneTraceAcrossTheChain(t *testing.T, c *collector) {
	t.Helper()
	var services map[string]bool
	testutil.Eventually(t, 20*time.Second, func() bool {
		byTrace := map[string]map[string]bool{}
		for _, sp := range c.Spans() {
			if byTrace[sp.TraceID] == nil {
				byTrace[sp.TraceID] = map[string]bool{}
			}
			byTrace[sp.TraceID][sp.Service] = true
			byTrace[sp.TraceID][sp.Service+"/"+sp.Name] = true
		}
		for _, svc := range byTrace {
			if svc["orchestrator"] && svc["discovery"] && svc["scanner"] && svc["ingest"] {
				services = svc
				return true
			}
		}
		return false
	}, "no trace holds spans of orchestrator, discovery, scanner and ingest")
	var scout bool
	for k := range services {
		if strings.HasPrefix(k, "scanner/") && strings.Contains(strings.ToLower(k), "scout") {
			scout = true
		}
	}
	if !scout {
		t.Errorf("the trace has no span for the Docker Scout run: %v", services)
	}
}

// scoutCalls counts fakescout invocations of a subcommand from its log.
func scoutCalls(t *testing.T, dockerConfig, sub string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dockerConfig, "fakescout.log"))
	if err != nil {
		t.Fatalf("fakescout log: %v", err)
	}
	n := 0
	for _, line := range strings.Split(string(b), "\n") {
		if strings.Contains(line, fmt.Sprintf("%q", sub)) {
			n++
		}
	}
	return n
}

func waitHTTP(t testing.TB, url string) {
	t.Helper()
	testutil.Eventually(t, 30*time.Second, func() bool {
		resp, err := http.Get(url)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode < 500
	}, "%s did not answer", url)
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
