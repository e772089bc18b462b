package server

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	imagev1 "github.com/scoutbridge/scoutbridge/gen/scoutbridge/image/v1"
	scannerv1 "github.com/scoutbridge/scoutbridge/gen/scoutbridge/scanner/v1"
	"github.com/scoutbridge/scoutbridge/pkg/telemetry"
	"github.com/scoutbridge/scoutbridge/pkg/testutil"
	"github.com/scoutbridge/scoutbridge/services/scanner/internal/scan"
)

const hubPassword = "dckr_pat_SuperSecretValue123"

func TestEveryFailureClassThroughTheDockerCLI(t *testing.T) {
	behaviors := []string{"ok", "empty", "whats_next_trailer", "auth", "not_entitled", "not_found", "unauthorized",
		"transient", "exit125", "panic", "exit255", "garbage", "leak_secret"}
	var images []string
	for _, b := range behaviors {
		images = append(images, fmt.Sprintf("%q: {\"behavior\": %q}", "acme/"+b, b))
	}
	cfg := installScout(t, `{"default": {"latency_ms": 0, "findings": 12, "behavior": "ok"}, "images": {`+strings.Join(images, ",")+`}}`)
	f := start(t, cfg, scan.Config{}, "DOCKER_SCOUT_HUB_USER=robot", "DOCKER_SCOUT_HUB_PASSWORD="+hubPassword)

	for _, tc := range []struct {
		name     string
		behavior string
		code     codes.Code
		findings int
		message  string
	}{
		{"a scan with findings", "ok", codes.OK, 12, ""},
		{"an empty scan is a report with zero findings", "empty", codes.OK, 0, ""},
		{"a What's next trailer on stdout does not matter", "whats_next_trailer", codes.OK, 12, ""},
		{"not logged in is a permanent precondition", "auth", codes.FailedPrecondition, 0, "docker login"},
		{"not entitled is a permanent precondition", "not_entitled", codes.FailedPrecondition, 0, "not entitled"},
		{"a missing image is NotFound", "not_found", codes.NotFound, 0, "manifest unknown"},
		{"a pull 401 is PermissionDenied", "unauthorized", codes.PermissionDenied, 0, "authentication required"},
		{"a graphql EOF is worth a retry", "transient", codes.Unavailable, 0, "graphql"},
		{"exit 125 is Internal", "exit125", codes.Internal, 0, "unknown flag"},
		{"a Go panic is Internal with the panic line", "panic", codes.Internal, 0, "panic: assignment to entry in nil map"},
		{"exit 255 is Internal", "exit255", codes.Internal, 0, "exit 255"},
		{"garbage output is Internal, never a partial report", "garbage", codes.Internal, 0, "malformed SARIF"},
		{"an error that echoes credentials does not repeat them", "leak_secret", codes.Internal, 0, "[redacted]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := f.client.ScanImage(t.Context(), request("acme/"+tc.behavior, tc.behavior))
			if got := status.Code(err); got != tc.code {
				t.Fatalf("code %v (%v), want %v", got, err, tc.code)
			}
			if err != nil {
				msg := status.Convert(err).Message()
				if !strings.Contains(msg, tc.message) {
					t.Errorf("message %q does not say %q", msg, tc.message)
				}
				if strings.Contains(msg, "\x1b[") || strings.Contains(msg, hubPassword) {
					t.Errorf("message has ANSI codes or the password: %q", msg)
				}
				return
			}
			rep := resp.GetReport()
			if len(rep.GetFindings()) != tc.findings || rep.GetStatus() != imagev1.ScanStatus_SCAN_STATUS_COMPLETED {
				t.Fatalf("%d findings, status %v; want %d", len(rep.GetFindings()), rep.GetStatus(), tc.findings)
			}
			if rep.GetScanner().GetVersion() != "1.18.2" || rep.GetPlatform() != "linux/amd64" || rep.GetSbom().GetOsName() != "debian" || rep.GetScanId() == "" {
				t.Errorf("report header %v %v %v %q", rep.GetScanner(), rep.GetPlatform(), rep.GetSbom(), rep.GetScanId())
			}
		})
	}
	if logs := f.logs.String(); strings.Contains(logs, hubPassword) {
		t.Errorf("the password reached the log:\n%s", logs)
	}
}

func TestChildEnvironmentTempDirAndTrace(t *testing.T) {
	tp := telemetry.NewTestProvider()
	cfg := installScout(t, `{"default": {"findings": 3}}`)
	f := start(t, cfg, scan.Config{}, "DOCKER_SCOUT_NO_CACHE=true")
	ctx, span := tp.Tracer("test").Start(t.Context(), "caller")
	_, err := f.client.ScanImage(ctx, request("acme/api", "env"))
	span.End()
	if err != nil {
		t.Fatal(err)
	}
	// Names the Docker CLI itself adds for a plugin, besides what the scanner passes.
	allowed := map[string]bool{"PATH": true, "HOME": true, "DOCKER_CONFIG": true, "TMPDIR": true, "TRACEPARENT": true,
		"DOCKER_CLI_PLUGIN_ORIGINAL_CLI_COMMAND": true, "DOCKER_CLI_PLUGIN_SOCKET": true, "OTEL_RESOURCE_ATTRIBUTES": true}
	invs := invocations(t, cfg)
	if countCommand(invs, "cves") != 1 || countCommand(invs, "sbom") != 1 {
		t.Fatalf("invocations %v, want one cves and one sbom", invs)
	}
	for _, inv := range invs {
		for _, name := range inv.Env {
			if !allowed[name] && !strings.HasPrefix(name, "DOCKER_SCOUT_") {
				t.Errorf("%v: the child saw %s", inv.Args, name)
			}
		}
		if !slices.Contains(inv.Env, "DOCKER_SCOUT_NO_CACHE") {
			t.Errorf("%v: DOCKER_SCOUT_* did not pass through: %v", inv.Args, inv.Env)
		}
		if !strings.HasPrefix(inv.TMPDIR, f.tempRoot+"/scoutbridge-scan-") {
			t.Errorf("%v: TMPDIR %q is not a per-scan directory under %s", inv.Args, inv.TMPDIR, f.tempRoot)
		}
		if !inv.Traceparent {
			t.Errorf("%v: no TRACEPARENT", inv.Args)
		}
	}
	assertEmptyDir(t, f.tempRoot)
	var found bool
	for _, s := range tp.Spans() {
		if s.Name != "docker scout cves" {
			continue
		}
		found = true
		attrs := map[string]bool{}
		for _, a := range s.Attributes {
			attrs[string(a.Key)] = true
		}
		for _, k := range []string{"process.exit.code", "scout.duration_ms", "scout.output.bytes"} {
			if !attrs[k] {
				t.Errorf("span lacks %s: %v", k, s.Attributes)
			}
		}
		if s.Parent.TraceID() != span.SpanContext().TraceID() {
			t.Errorf("the Scout span is not in the caller's trace")
		}
	}
	if !found {
		t.Error("no span for the Scout run")
	}
}

func assertEmptyDir(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Errorf("temporary files left in %s: %v", dir, entries)
	}
}

// assertNoScoutAlive checks that no process fakescout logged (the plugin and its helper) still runs.
func assertNoScoutAlive(t *testing.T, dockerConfig string) {
	t.Helper()
	invs := invocations(t, dockerConfig)
	if countCommand(invs, "hang-child") == 0 {
		t.Fatalf("the hanging Scout never started its helper: %v", invs)
	}
	testutil.Eventually(t, 5*time.Second, func() bool {
		for _, inv := range invs {
			if testutil.Running(inv.PID) {
				return false
			}
		}
		return true
	}, "a Scout process survived: %v", invs)
}

func TestTimeoutKillsTheProcessGroupAndRemovesTheTempDir(t *testing.T) {
	cfg := installScout(t, `{"default": {"behavior": "hang"}}`)
	f := start(t, cfg, scan.Config{Timeout: 3 * time.Second})
	began := time.Now()
	_, err := f.client.ScanImage(t.Context(), request("acme/slow", "hang"))
	if status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("got %v, want DeadlineExceeded", err)
	}
	if d := time.Since(began); d > 10*time.Second {
		t.Errorf("the scan took %s with a 3s timeout", d)
	}
	assertNoScoutAlive(t, cfg)
	assertEmptyDir(t, f.tempRoot)
}

func TestCancelledCallKillsScout(t *testing.T) {
	cfg := installScout(t, `{"default": {"behavior": "hang"}}`)
	f := start(t, cfg, scan.Config{Timeout: time.Minute})
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() {
		_, err := f.client.ScanImage(ctx, request("acme/slow", "cancel"))
		errc <- err
	}()
	testutil.Eventually(t, 10*time.Second, func() bool { return countCommand(invocations(t, cfg), "hang-child") > 0 }, "Scout did not start")
	cancel()
	if err := <-errc; status.Code(err) != codes.Canceled {
		t.Fatalf("got %v, want Canceled", err)
	}
	assertNoScoutAlive(t, cfg)
	testutil.Eventually(t, 5*time.Second, func() bool {
		_, running, queued := f.scans.Load()
		return running == 0 && queued == 0
	}, "the slot was not released")
	assertEmptyDir(t, f.tempRoot)
}

func TestConcurrentRequestsShareOneRunAndTheCacheServesTheNext(t *testing.T) {
	cfg := installScout(t, `{"default": {"latency_ms": 400, "findings": 5}}`)
	f := start(t, cfg, scan.Config{CacheTTL: time.Hour})
	var wg sync.WaitGroup
	ids := make([]string, 5)
	errs := make([]error, 5)
	for i := range ids {
		wg.Go(func() {
			resp, err := f.client.ScanImage(t.Context(), request("acme/api", "shared"))
			ids[i], errs[i] = resp.GetReport().GetScanId(), err
		})
	}
	wg.Wait()
	for i := range ids {
		if errs[i] != nil || ids[i] != ids[0] {
			t.Fatalf("call %d: %v, scan id %q vs %q", i, errs[i], ids[i], ids[0])
		}
	}
	if n := countCommand(invocations(t, cfg), "cves"); n != 1 {
		t.Fatalf("docker scout cves ran %d times for 5 concurrent requests, want 1", n)
	}
	req := request("acme/api", "shared")
	req.Image.Tags = []string{"latest", "v2"}
	resp, err := f.client.ScanImage(t.Context(), req)
	if err != nil || !resp.GetCached() || resp.GetReport().GetScanId() != ids[0] {
		t.Fatalf("second call: cached=%v scan id %q, %v; want the cached report %q", resp.GetCached(), resp.GetReport().GetScanId(), err, ids[0])
	}
	if got := resp.GetReport().GetImage().GetTags(); len(got) != 2 {
		t.Errorf("a cached report shows the caller's tags: got %v", got)
	}
	other := request("acme/api", "shared")
	other.Platform = "linux/arm64"
	if resp, err := f.client.ScanImage(t.Context(), other); err != nil || resp.GetCached() || resp.GetReport().GetPlatform() != "linux/arm64" {
		t.Fatalf("another platform: cached=%v %v", resp.GetCached(), err)
	}
	req.Force = true
	resp, err = f.client.ScanImage(t.Context(), req)
	if err != nil || resp.GetCached() || resp.GetReport().GetScanId() == ids[0] {
		t.Fatalf("forced: cached=%v scan id %q, %v; want a new run", resp.GetCached(), resp.GetReport().GetScanId(), err)
	}
	if n := countCommand(invocations(t, cfg), "cves"); n != 3 {
		t.Fatalf("docker scout cves ran %d times, want 3 (shared, other platform, forced)", n)
	}
}

func TestFullQueueIsResourceExhausted(t *testing.T) {
	cfg := installScout(t, `{"default": {"latency_ms": 1500, "findings": 1}}`)
	f := start(t, cfg, scan.Config{Concurrency: 1, QueueSize: 1})
	errs := make(chan error, 2)
	go func() { _, err := f.client.ScanImage(t.Context(), request("acme/a", "a")); errs <- err }()
	testutil.Eventually(t, 5*time.Second, func() bool { _, r, _ := f.scans.Load(); return r == 1 }, "first scan not running")
	go func() { _, err := f.client.ScanImage(t.Context(), request("acme/b", "b")); errs <- err }()
	testutil.Eventually(t, 5*time.Second, func() bool { _, _, q := f.scans.Load(); return q == 1 }, "second scan not queued")
	info, err := f.client.GetScannerInfo(t.Context(), &scannerv1.GetScannerInfoRequest{})
	if err != nil || info.GetRunning() != 1 || info.GetQueued() != 1 || info.GetConcurrency() != 1 {
		t.Errorf("info %v, %v", info, err)
	}
	_, err = f.client.ScanImage(t.Context(), request("acme/c", "c"))
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("third scan: %v, want ResourceExhausted", err)
	}
	// A request for a digest already in flight joins it instead of queueing.
	if _, err := f.client.ScanImage(t.Context(), request("acme/a", "a")); err != nil {
		t.Fatalf("joining a running scan: %v", err)
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Errorf("queued scans finish: %v", err)
		}
	}
}

func TestHostileReferencesNeverReachScout(t *testing.T) {
	cfg := installScout(t, `{}`)
	f := start(t, cfg, scan.Config{})
	good := digest("x")
	for _, tc := range []struct {
		name                       string
		registry, repo, dig, platf string
	}{
		{"no digest", "docker.io", "acme/api", "", ""},
		{"a tag instead of a digest", "docker.io", "acme/api", "latest", ""},
		{"a short digest", "docker.io", "acme/api", "sha256:abc", ""},
		{"an option as repository", "docker.io", "--help", good, ""},
		{"an option as digest", "docker.io", "acme/api", "--output=/etc/passwd", ""},
		{"an option as platform", "docker.io", "acme/api", good, "--exit-code"},
		{"an option as registry", "-e", "acme/api", good, ""},
		{"shell metacharacters", "docker.io", "acme/api;rm -rf /", good, ""},
		{"a path traversal", "docker.io", "../../etc/passwd", good, ""},
		{"upper case", "docker.io", "ACME/api", good, ""},
		{"a tag in the repository", "docker.io", "acme/api:latest", good, ""},
		{"a newline in the platform", "docker.io", "acme/api", good, "linux/amd64\n--org=x"},
		{"no repository", "docker.io", "", good, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.client.ScanImage(t.Context(), &scannerv1.ScanImageRequest{
				Image: &imagev1.Image{Registry: tc.registry, Repository: tc.repo, Digest: tc.dig}, Platform: tc.platf})
			if status.Code(err) != codes.InvalidArgument {
				t.Fatalf("got %v, want InvalidArgument", err)
			}
		})
	}
	if _, err := f.client.ScanImage(t.Context(), &scannerv1.ScanImageRequest{}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("no image: %v", err)
	}
	if invs := invocations(t, cfg); len(invs) != 0 {
		t.Fatalf("Scout ran for hostile input: %v", invs)
	}
}

func TestReadiness(t *testing.T) {
	t.Run("with the plugin", func(t *testing.T) {
		f := start(t, installScout(t, `{}`), scan.Config{})
		r := f.scans.CheckReady(t.Context(), 10*time.Second)
		info, err := f.client.GetScannerInfo(t.Context(), &scannerv1.GetScannerInfoRequest{})
		if !r.Ready || err != nil || !info.GetReady() || info.GetVersion() != "v1.18.2" || info.GetBackend() != "docker-scout" {
			t.Fatalf("ready %v, info %v, %v", r, info, err)
		}
	})
	t.Run("without the plugin", func(t *testing.T) {
		f := start(t, t.TempDir(), scan.Config{})
		r := f.scans.CheckReady(t.Context(), 10*time.Second)
		info, _ := f.client.GetScannerInfo(t.Context(), &scannerv1.GetScannerInfoRequest{})
		if r.Ready || info.GetReady() || !strings.Contains(info.GetReason(), "install") {
			t.Fatalf("ready %v, info %v; want not ready with how to install", r, info)
		}
		_, err := f.client.ScanImage(t.Context(), request("acme/api", "noplugin"))
		if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "install") {
			t.Fatalf("scan without the plugin: %v, want FailedPrecondition saying how to install", err)
		}
	})
}

func TestScoutCommandLines(t *testing.T) {
	cfg := installScout(t, `{"default": {"findings": 2}}`)
	f := start(t, cfg, scan.Config{DefaultPlatform: "linux/arm64"})
	for _, tc := range []struct {
		name, registry, repo, platform string
		scoutName, wantPlatform        string
	}{
		{"SCANNER_PLATFORM when the request names none", "docker.io", "acme/api", "", "acme/api", "linux/arm64"},
		{"the request's platform", "", "acme/web", "linux/amd64", "acme/web", "linux/amd64"},
		{"an official image in its familiar form", "docker.io", "library/nginx", "linux/arm/v7", "nginx", "linux/arm/v7"},
		{"another registry", "ghcr.io", "acme/tool", "", "ghcr.io/acme/tool", "linux/arm64"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dig := digest(tc.repo)
			image := "registry://" + tc.scoutName + "@" + dig
			resp, err := f.client.ScanImage(t.Context(), &scannerv1.ScanImageRequest{
				Image: &imagev1.Image{Registry: tc.registry, Repository: tc.repo, Digest: dig}, Platform: tc.platform})
			if err != nil {
				t.Fatal(err)
			}
			if got := resp.GetReport().GetPlatform(); got != tc.wantPlatform {
				t.Errorf("report platform %q, want %q", got, tc.wantPlatform)
			}
			var seen []string
			for _, inv := range invocations(t, cfg) {
				if len(inv.Args) == 0 || inv.Args[len(inv.Args)-1] != image {
					continue
				}
				seen = append(seen, inv.Args[0])
				out := inv.TMPDIR + "/" + map[string]string{"cves": "cves.sarif.json", "sbom": "sbom.json"}[inv.Args[0]]
				format := map[string]string{"cves": "sarif", "sbom": "json"}[inv.Args[0]]
				want := []string{inv.Args[0], "--format", format, "--output", out, "--platform", tc.wantPlatform, image}
				if !slices.Equal(inv.Args, want) {
					t.Errorf("docker scout %v\nwant        %v", inv.Args, want)
				}
			}
			if !slices.Equal(seen, []string{"cves", "sbom"}) {
				t.Errorf("commands for %s: %v, want cves then sbom", image, seen)
			}
		})
	}
}
