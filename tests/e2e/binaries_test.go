package e2e

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	"github.com/scoutbridge/scoutbridge/pkg/testutil"
)

// TestEveryBinaryServesAndStopsCleanly is the chassis contract, checked on each shipped binary: it
// starts on a loopback port, health says SERVING, reflection lists its API (what `grpcurl list` shows),
// and SIGTERM while a streaming call is open ends it with exit code 0 within 10 s.
func TestEveryBinaryServesAndStopsCleanly(t *testing.T) {
	docker := testutil.DockerCLI(t) // the scanner is only SERVING with Scout behind it
	dockerConfig := t.TempDir()
	must(t, os.MkdirAll(filepath.Join(dockerConfig, "cli-plugins"), 0o755))
	scout, err := os.ReadFile(testutil.BuildBinary(t, "tools/fakescout"))
	must(t, err)
	must(t, os.WriteFile(filepath.Join(dockerConfig, "cli-plugins", "docker-scout"), scout, 0o755))

	data := t.TempDir()
	for _, tt := range []struct {
		binary, service string
		env             []string
	}{
		{"discovery", "scoutbridge.discovery.v1.DiscoveryService", []string{"DOCKERHUB_API_URL=http://" + testutil.FreeAddr(t)}},
		{"scanner", "scoutbridge.scanner.v1.ScannerService", []string{"DOCKER_BIN=" + docker, "DOCKER_CONFIG=" + dockerConfig}},
		{"ingest", "scoutbridge.ingest.v1.IngestService", []string{"INGEST_DB=" + filepath.Join(data, "ingest.db")}},
		{"orchestrator", "scoutbridge.orchestrator.v1.OrchestratorService", []string{
			"ORCHESTRATOR_DB=" + filepath.Join(data, "orchestrator.db"), "RUN_INTERVAL=0", "RUNTIME_ADDR=",
		}},
		{"runtime", "scoutbridge.triage.v1.TriageService", []string{
			"RUNTIME_DB=" + filepath.Join(data, "runtime.db"), "INGEST_ADDR=" + testutil.FreeAddr(t),
		}},
	} {
		t.Run(tt.binary, func(t *testing.T) {
			bin := testutil.BuildBinary(t, "services/"+tt.binary+"/cmd/"+tt.binary)
			addr := testutil.FreeAddr(t)
			proc := testutil.StartProcess(t, bin, append(tt.env, "LISTEN_ADDR="+addr))
			testutil.WaitServing(t, addr)
			conn := testutil.Dial(t, addr)

			h, err := healthpb.NewHealthClient(conn).Check(t.Context(), &healthpb.HealthCheckRequest{Service: tt.service})
			if err != nil || h.GetStatus() != healthpb.HealthCheckResponse_SERVING {
				t.Fatalf("health of %s = %v, %v; want SERVING", tt.service, h.GetStatus(), err)
			}

			// Reflection is itself a streaming call: keep it open across the SIGTERM.
			stream, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(t.Context())
			must(t, err)
			must(t, stream.Send(&reflectionpb.ServerReflectionRequest{
				MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{ListServices: ""},
			}))
			resp, err := stream.Recv()
			must(t, err)
			var services []string
			for _, s := range resp.GetListServicesResponse().GetService() {
				services = append(services, s.GetName())
			}
			for _, want := range []string{tt.service, "grpc.health.v1.Health"} {
				if !slices.Contains(services, want) {
					t.Errorf("reflection lists %v, want %s among them", services, want)
				}
			}

			start := time.Now()
			if code := proc.Stop(10 * time.Second); code != 0 {
				t.Errorf("exit code %d after SIGTERM with a stream open, want 0\n%s", code, proc.Output)
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("took %s to stop, want under 10 s", d)
			}
			// The open stream ends with the server, not with a hang.
			if _, err := stream.Recv(); err == nil || status.Code(err) == codes.OK {
				t.Errorf("the reflection stream is still open after the server stopped")
			}
		})
	}
}
