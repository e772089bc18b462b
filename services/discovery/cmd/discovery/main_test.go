package main_test

import (
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	discoveryv1 "github.com/scoutbridge/scoutbridge/gen/scoutbridge/discovery/v1"
	"github.com/scoutbridge/scoutbridge/pkg/testutil"
	fakehub "github.com/scoutbridge/scoutbridge/tools/fakehub/hub"
)

const token = "dckr_pat_process-test-secret"

func startBinary(t *testing.T, env ...string) (*testutil.Process, string, *fakehub.Hub) {
	t.Helper()
	fake := fakehub.New(fakehub.Options{Username: "bob", Token: token})
	if err := fake.Push(fakehub.Demo(time.Now())...); err != nil {
		t.Fatal(err)
	}
	web := httptest.NewServer(fake)
	t.Cleanup(web.Close)
	bin := testutil.BuildBinary(t, "./services/discovery/cmd/discovery")
	addr := testutil.FreeAddr(t)
	p := testutil.StartProcess(t, bin, append([]string{"LISTEN_ADDR=" + addr, "DOCKERHUB_API_URL=" + web.URL}, env...))
	testutil.WaitServing(t, addr)
	return p, addr, fake
}

func TestBinaryServesAndStopsCleanlyWithAStreamOpen(t *testing.T) {
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p, addr, fake := startBinary(t, "DOCKERHUB_USERNAME=bob", "DOCKERHUB_TOKEN_FILE="+tokenFile, "DISCOVERY_NAMESPACES=acme")
	conn := testutil.Dial(t, addr)

	resp, err := healthpb.NewHealthClient(conn).Check(t.Context(), &healthpb.HealthCheckRequest{Service: discoveryv1.DiscoveryService_ServiceDesc.ServiceName})
	if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health of the service: %v %v", resp, err)
	}

	reflCtx, endRefl := context.WithCancel(t.Context())
	refl, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(reflCtx)
	if err != nil {
		t.Fatal(err)
	}
	if err := refl.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	rr, err := refl.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var services []string
	for _, s := range rr.GetListServicesResponse().GetService() {
		services = append(services, s.GetName())
	}
	if !strings.Contains(strings.Join(services, " "), "scoutbridge.discovery.v1.DiscoveryService") {
		t.Errorf("reflection lists %v", services)
	}
	endRefl() // as grpcurl does: a reflection stream left open would hold GracefulStop until SHUTDOWN_TIMEOUT

	// A full discovery of the demo catalog: every acme image except legacy (older than a day).
	client := discoveryv1.NewDiscoveryServiceClient(conn)
	stream, err := client.DiscoverImages(t.Context(), &discoveryv1.DiscoverImagesRequest{
		PushedAfter: timestamppb.New(time.Now().Add(-24 * time.Hour))})
	if err != nil {
		t.Fatal(err)
	}
	var repos []string
	for {
		r, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("discovery of the demo catalog: %v", err)
		}
		repos = append(repos, r.GetImage().GetRepository())
	}
	if got := strings.Join(repos, " "); strings.Contains(got, "legacy") || !strings.Contains(got, "acme/api") || !strings.Contains(got, "acme/web") {
		t.Errorf("discovered %q", got)
	}

	// Now a stream that hangs on a slow hub, and SIGTERM.
	fake.SetFaults(fakehub.Faults{Latency: fakehub.Duration(time.Minute)})
	hanging, err := client.DiscoverImages(t.Context(), &discoveryv1.DiscoverImagesRequest{Namespaces: []string{"acme"}})
	if err != nil {
		t.Fatal(err)
	}
	ended := make(chan error, 1)
	go func() { _, err := hanging.Recv(); ended <- err }()
	time.Sleep(200 * time.Millisecond)
	if code := p.Stop(15 * time.Second); code != 0 {
		t.Errorf("exit code %d after SIGTERM with a stream open, want 0", code)
	}
	select {
	case err := <-ended:
		if err == nil {
			t.Errorf("the open stream should end with an error status, got an image")
		}
		t.Logf("open stream ended with %v", status.Code(err))
	case <-time.After(5 * time.Second):
		t.Errorf("the open stream did not end")
	}
	out := p.Output.String()
	if strings.Contains(out, token) {
		t.Errorf("the token appears in the output:\n%s", out)
	}
	if strings.Contains(out, "stopping hard") {
		t.Errorf("the open DiscoverImages stream held the shutdown until SHUTDOWN_TIMEOUT:\n%s", out)
	}
	if strings.Contains(out, "anonymous") {
		t.Errorf("credentials were given but the log says anonymous")
	}
}

func TestAnonymousModeIsLoggedOnce(t *testing.T) {
	p, _, _ := startBinary(t)
	if n := strings.Count(p.Output.String(), "anonymous mode"); n != 1 {
		t.Errorf("anonymous mode logged %d times:\n%s", n, p.Output.String())
	}
}

func TestBadSettingsExit2NamingTheSetting(t *testing.T) {
	bin := testutil.BuildBinary(t, "./services/discovery/cmd/discovery")
	tests := []struct {
		name string
		env  []string
		want string
	}{
		{"token without user", []string{"DOCKERHUB_TOKEN=" + token}, "DOCKERHUB_USERNAME"},
		{"user without token", []string{"DOCKERHUB_USERNAME=bob"}, "DOCKERHUB_TOKEN"},
		{"bad URL", []string{"DOCKERHUB_API_URL=hub.docker.com"}, "DOCKERHUB_API_URL"},
		{"bad namespace", []string{"DISCOVERY_NAMESPACES=acme,Not Valid"}, "DISCOVERY_NAMESPACES"},
		{"credentials in the URL (it is logged)", []string{"DOCKERHUB_API_URL=https://bob:" + token + "@hub.docker.com"}, "must not carry credentials"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second) // a binary that accepts the setting serves on
			defer cancel()
			cmd := exec.CommandContext(ctx, bin)
			cmd.Env = append(os.Environ(), append([]string{"LISTEN_ADDR=" + testutil.FreeAddr(t), "DOCKERHUB_TOKEN=", "DOCKERHUB_USERNAME="}, tt.env...)...)
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			if !errorsAs(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(out), tt.want) {
				t.Errorf("err %v, output %q; want exit 2 naming %s", err, out, tt.want)
			}
			if strings.Contains(string(out), token) {
				t.Errorf("the token appears in the output: %s", out)
			}
		})
	}
}

func errorsAs(err error, target **exec.ExitError) bool {
	e, ok := err.(*exec.ExitError)
	if ok {
		*target = e
	}
	return ok
}
