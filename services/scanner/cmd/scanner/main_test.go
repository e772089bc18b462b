package main

import (
	"context"
	"os"
	"os/exec"
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

func scoutConfig(t *testing.T, withPlugin bool) string {
	t.Helper()
	cfg := t.TempDir()
	if !withPlugin {
		return cfg
	}
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
	if err := os.WriteFile(filepath.Join(cfg, "fakescout.json"), []byte(`{"default": {"findings": 7}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func docker(t *testing.T) string {
	p, err := exec.LookPath("docker")
	if err != nil {
		t.Skip("the docker CLI is not on PATH")
	}
	return p
}

func TestBinaryServesScansAndStopsOnSIGTERM(t *testing.T) {
	bin := testutil.BuildBinary(t, "services/scanner/cmd/scanner")
	addr := testutil.FreeAddr(t)
	p := testutil.StartProcess(t, bin, []string{"LISTEN_ADDR=" + addr, "DOCKER_BIN=" + docker(t), "DOCKER_CONFIG=" + scoutConfig(t, true)})
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

func TestBinaryWithoutThePluginIsNotServingAndSaysHowToInstall(t *testing.T) {
	bin := testutil.BuildBinary(t, "services/scanner/cmd/scanner")
	addr := testutil.FreeAddr(t)
	p := testutil.StartProcess(t, bin, []string{"LISTEN_ADDR=" + addr, "DOCKER_BIN=" + docker(t), "DOCKER_CONFIG=" + scoutConfig(t, false)})
	conn := testutil.Dial(t, addr)
	hc := healthpb.NewHealthClient(conn)
	testutil.Eventually(t, 20*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		st, err := hc.Check(ctx, &healthpb.HealthCheckRequest{})
		return err == nil && st.GetStatus() == healthpb.HealthCheckResponse_NOT_SERVING
	}, "health never answered NOT_SERVING")
	info, err := scannerv1.NewScannerServiceClient(conn).GetScannerInfo(t.Context(), &scannerv1.GetScannerInfoRequest{})
	if err != nil || info.GetReady() || !strings.Contains(info.GetReason(), "install") {
		t.Fatalf("info %v, %v", info, err)
	}
	if out := p.Output.String(); !strings.Contains(out, "install the Docker Scout CLI plugin") {
		t.Fatalf("no log line saying how to install Scout:\n%s", out)
	}
	if code := p.Stop(10 * time.Second); code != 0 {
		t.Fatalf("exit code %d, want 0", code)
	}
}
