package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"

	imagev1 "github.com/scoutbridge/scoutbridge/gen/scoutbridge/image/v1"
	scannerv1 "github.com/scoutbridge/scoutbridge/gen/scoutbridge/scanner/v1"
	"github.com/scoutbridge/scoutbridge/pkg/testutil"
)

// scoutConfig makes a DOCKER_CONFIG; with a fakescout.json it also holds fakescout as the Scout plugin.
func scoutConfig(t *testing.T, fakescoutJSON string) string {
	t.Helper()
	cfg := t.TempDir()
	if fakescoutJSON == "" {
		return cfg
	}
	installPlugin(t, cfg, fakescoutJSON)
	return cfg
}

// installPlugin puts fakescout into cfg/cli-plugins/docker-scout, configured by fakescoutJSON.
func installPlugin(t *testing.T, cfg, fakescoutJSON string) {
	t.Helper()
	b, err := os.ReadFile(testutil.BuildBinary(t, "tools/fakescout"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(cfg, "cli-plugins"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cfg, "cli-plugins", "docker-scout"), b, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cfg, "fakescout.json"), []byte(fakescoutJSON), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestBinaryServesScansAndStopsOnSIGTERM(t *testing.T) {
	bin := testutil.BuildBinary(t, "services/scanner/cmd/scanner")
	addr := testutil.FreeAddr(t)
	p := testutil.StartProcess(t, bin, []string{"LISTEN_ADDR=" + addr, "DOCKER_BIN=" + testutil.DockerCLI(t), "DOCKER_CONFIG=" + scoutConfig(t, `{"default": {"findings": 7}}`)})
	testutil.WaitServing(t, addr)
	conn := testutil.Dial(t, addr)

	st, err := healthpb.NewHealthClient(conn).Check(t.Context(), &healthpb.HealthCheckRequest{Service: "scoutbridge.scanner.v1.ScannerService"})
	if err != nil || st.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health %v %v", st, err)
	}
	refl, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := refl.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	resp, err := refl.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range resp.GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	if !slices.Contains(names, "scoutbridge.scanner.v1.ScannerService") {
		t.Fatalf("reflection lists %v", names)
	}
	_ = refl.CloseSend()

	client := scannerv1.NewScannerServiceClient(conn)
	scan, err := client.ScanImage(t.Context(), &scannerv1.ScanImageRequest{Image: &imagev1.Image{
		Repository: "acme/api", Digest: "sha256:" + strings.Repeat("ab", 32)}})
	if err != nil || len(scan.GetReport().GetFindings()) != 7 {
		t.Fatalf("scan: %v, %d findings", err, len(scan.GetReport().GetFindings()))
	}
	if code := p.Stop(10 * time.Second); code != 0 {
		t.Fatalf("exit code %d after SIGTERM, want 0\n%s", code, p.Output.String())
	}
}

func TestBinaryWithoutThePluginIsNotServingUntilItIsInstalled(t *testing.T) {
	bin := testutil.BuildBinary(t, "services/scanner/cmd/scanner")
	addr := testutil.FreeAddr(t)
	cfg := scoutConfig(t, "")
	p := testutil.StartProcess(t, bin, []string{"LISTEN_ADDR=" + addr, "DOCKER_BIN=" + testutil.DockerCLI(t), "DOCKER_CONFIG=" + cfg,
		"SCANNER_READY_INTERVAL=300ms"})
	conn := testutil.Dial(t, addr)
	hc := healthpb.NewHealthClient(conn)
	healthIs := func(want healthpb.HealthCheckResponse_ServingStatus) func() bool {
		return func() bool {
			ctx, cancel := context.WithTimeout(t.Context(), time.Second)
			defer cancel()
			st, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: "scoutbridge.scanner.v1.ScannerService"})
			return err == nil && st.GetStatus() == want
		}
	}
	testutil.Eventually(t, 20*time.Second, healthIs(healthpb.HealthCheckResponse_NOT_SERVING), "health never answered NOT_SERVING")
	client := scannerv1.NewScannerServiceClient(conn)
	info, err := client.GetScannerInfo(t.Context(), &scannerv1.GetScannerInfoRequest{})
	if err != nil || info.GetReady() || !strings.Contains(info.GetReason(), "install") {
		t.Fatalf("info %v, %v", info, err)
	}
	if out := p.Output.String(); !strings.Contains(out, "install the Docker Scout CLI plugin") {
		t.Fatalf("no log line saying how to install Scout:\n%s", out)
	}

	// The check runs again every SCANNER_READY_INTERVAL: installing the plugin is enough.
	installPlugin(t, cfg, `{}`)
	testutil.Eventually(t, 20*time.Second, healthIs(healthpb.HealthCheckResponse_SERVING), "health stayed NOT_SERVING after the plugin was installed")
	if info, err := client.GetScannerInfo(t.Context(), &scannerv1.GetScannerInfoRequest{}); err != nil || !info.GetReady() || info.GetVersion() != "v1.18.2" {
		t.Fatalf("after installing: info %v, %v", info, err)
	}
	if code := p.Stop(10 * time.Second); code != 0 {
		t.Fatalf("exit code %d, want 0", code)
	}
}

// scoutPIDs are the processes fakescout logged in cfg/fakescout.log, and whether its hanging helper
// (a grandchild of the scanner) started.
func scoutPIDs(t *testing.T, cfg string) (pids []int, helper bool) {
	t.Helper()
	b, _ := os.ReadFile(filepath.Join(cfg, "fakescout.log"))
	for line := range strings.SplitSeq(strings.TrimSpace(string(b)), "\n") {
		var e struct {
			PID  int      `json:"pid"`
			Args []string `json:"args"`
		}
		if json.Unmarshal([]byte(line), &e) != nil {
			continue
		}
		pids = append(pids, e.PID)
		helper = helper || slices.Contains(e.Args, "hang-child")
	}
	return pids, helper
}

func TestStoppingTheBinaryLeavesNoScoutProcessBehind(t *testing.T) {
	bin := testutil.BuildBinary(t, "services/scanner/cmd/scanner")
	addr := testutil.FreeAddr(t)
	cfg := scoutConfig(t, `{"default": {"behavior": "hang"}}`)
	tmp := t.TempDir()
	p := testutil.StartProcess(t, bin, []string{"LISTEN_ADDR=" + addr, "DOCKER_BIN=" + testutil.DockerCLI(t), "DOCKER_CONFIG=" + cfg,
		"TMPDIR=" + tmp, "SHUTDOWN_TIMEOUT=2s"})
	testutil.WaitServing(t, addr)
	client := scannerv1.NewScannerServiceClient(testutil.Dial(t, addr))
	go client.ScanImage(t.Context(), &scannerv1.ScanImageRequest{Image: &imagev1.Image{
		Repository: "acme/api", Digest: "sha256:" + strings.Repeat("cd", 32)}})
	testutil.Eventually(t, 10*time.Second, func() bool { _, helper := scoutPIDs(t, cfg); return helper }, "Scout never started")

	if code := p.Stop(10 * time.Second); code != 0 {
		t.Fatalf("exit code %d after SIGTERM, want 0\n%s", code, p.Output.String())
	}
	// Scout runs in its own process group, so the scanner's exit alone does not end it.
	pids, _ := scoutPIDs(t, cfg)
	testutil.Eventually(t, 5*time.Second, func() bool {
		return !slices.ContainsFunc(pids, testutil.Running)
	}, "a Scout process outlived the scanner: %v", pids)
	if entries, _ := filepath.Glob(filepath.Join(tmp, "scoutbridge-scan-*")); len(entries) != 0 {
		t.Errorf("per-scan directories left behind: %v", entries)
	}
}

func TestBinaryRefusesBadSettings(t *testing.T) {
	bin := testutil.BuildBinary(t, "services/scanner/cmd/scanner")
	for setting, value := range map[string]string{
		"SCANNER_PLATFORM":    "amd64",
		"SCANNER_CONCURRENCY": "0",
		"SCANNER_TIMEOUT":     "0s",
	} {
		p := testutil.StartProcess(t, bin, []string{"LISTEN_ADDR=" + testutil.FreeAddr(t), setting + "=" + value})
		select {
		case <-p.Done():
		case <-time.After(20 * time.Second):
			t.Fatalf("%s=%s: the binary started instead of refusing the setting", setting, value)
		}
		if code := p.ExitCode(); code != 2 || !strings.Contains(p.Output.String(), setting) {
			t.Errorf("%s=%s: exit %d, output %q; want 2 naming the setting", setting, value, code, p.Output.String())
		}
	}
}
