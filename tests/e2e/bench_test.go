package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	ingestv1 "github.com/scoutbridge/scoutbridge/gen/scoutbridge/ingest/v1"
	orchestratorv1 "github.com/scoutbridge/scoutbridge/gen/scoutbridge/orchestrator/v1"
	"github.com/scoutbridge/scoutbridge/pkg/testutil"
)

// BenchmarkFullRun is issue 6's figure through the real processes: 500 images pushed in the window,
// Docker Scout (the stand-in, through the real docker CLI) answering in 200 ms per image (100 ms for
// `cves`, 100 ms for `sbom`) with 50 findings each, SCAN_CONCURRENCY=4 against a scanner with 4 slots,
// every event delivered to the Dynatrace stand-in. One iteration is one forced run over the 500 images.
//
// It reports the run's wall time (StartRun to RUN_FINISHED), the ideal (images × 200 ms / 4), the
// orchestration overhead per image, the time until the Dynatrace stand-in had every event, and the
// peak RSS (VmHWM) and CPU time of each service (the scanner's includes its docker CLI and Scout
// children; the whole suite shares the machine's cores). Run it with -benchtime 1x; the figures go to docs/benchmarks.
func BenchmarkFullRun(b *testing.B) {
	const (
		images      = 500
		concurrency = 4
		scanLatency = 200 * time.Millisecond
	)
	s := startProcessSuite(b, suiteOptions{
		ScoutConfig: `{"default": {"latency_ms": 100, "findings": 50, "behavior": "ok"}}`,
		HubArgs:     []string{"-generate", fmt.Sprintf("1x%dx1", images), "-spread", "20h", "-seed", "7"},
		Namespace:   "ns0",
		LogLevel:    "info",
	})
	c := dialSuite(b, s.endpoints)
	ideal := time.Duration(images) * scanLatency / concurrency

	var runWall, deliveredWall time.Duration
	for b.Loop() {
		began := time.Now()
		run := runToEnd(b, c, &orchestratorv1.StartRunRequest{ForceRescan: true})
		runWall += time.Since(began)
		if run.GetState() != orchestratorv1.RunState_RUN_STATE_SUCCEEDED || run.GetCounts().GetImagesIngested() != images {
			b.Fatalf("run %s: %s, counts %v (%s)", run.GetRunId(), run.GetState(), run.GetCounts(), run.GetError())
		}
		stats, err := c.ingest.GetIngestStats(b.Context(), &ingestv1.GetIngestStatsRequest{})
		must(b, err)
		testutil.Eventually(b, 5*time.Minute, func() bool {
			return acceptedEvents(b, s.Dynatrace) >= stats.GetEventsStored()
		}, "the Dynatrace stand-in did not receive all %d events", stats.GetEventsStored())
		deliveredWall += time.Since(began)
	}
	perRun := runWall / time.Duration(b.N)
	b.ReportMetric(perRun.Seconds(), "s/run")
	b.ReportMetric(ideal.Seconds(), "s-ideal")
	b.ReportMetric(float64((perRun-ideal).Milliseconds())/images, "ms-overhead/image")
	b.ReportMetric((deliveredWall / time.Duration(b.N)).Seconds(), "s-to-delivered")
	for _, name := range []string{"orchestrator", "discovery", "scanner", "ingest", "runtime", "fakedynatrace"} {
		pid := s.procs[name].Cmd.Process.Pid
		b.ReportMetric(peakRSSMiB(b, pid), "MiB-rss-"+name)
		b.ReportMetric(cpuSeconds(b, pid)/float64(b.N), "cpu-s/run-"+name)
	}
}

// cpuSeconds is the CPU time a process and its waited-for children (for the scanner: every docker
// CLI and Scout plugin process) have used so far, from /proc/<pid>/stat.
func cpuSeconds(t testing.TB, pid int) float64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatalf("CPU time of %d: %v", pid, err)
	}
	// Fields after the command name (which may hold spaces, inside parentheses): utime is the 12th,
	// then stime, cutime, cstime, in clock ticks (100 per second on Linux).
	fields := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	var ticks float64
	for _, f := range fields[11:15] {
		n, err := strconv.ParseFloat(f, 64)
		if err != nil {
			t.Fatalf("/proc/%d/stat: %v", pid, err)
		}
		ticks += n
	}
	return ticks / 100
}

// acceptedEvents is how many events the Dynatrace stand-in has accepted.
func acceptedEvents(t testing.TB, base string) int64 {
	t.Helper()
	resp, err := http.Get(base + "/_fake/stats")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	var stats struct {
		AcceptedEvents int64 `json:"accepted_events"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&stats); err != nil {
		t.Fatalf("stand-in stats: %v", err)
	}
	return stats.AcceptedEvents
}

// peakRSSMiB reads a process's peak resident set size (VmHWM) from /proc.
func peakRSSMiB(t testing.TB, pid int) float64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("peak RSS of %d: %v", pid, err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			if err != nil {
				t.Fatalf("VmHWM %q: %v", rest, err)
			}
			return kb / 1024
		}
	}
	t.Fatalf("no VmHWM in /proc/%d/status", pid)
	return 0
}
