package server

import (
	"bufio"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	imagev1 "github.com/scoutbridge/scoutbridge/gen/scoutbridge/image/v1"
	scannerv1 "github.com/scoutbridge/scoutbridge/gen/scoutbridge/scanner/v1"
	"github.com/scoutbridge/scoutbridge/pkg/chassis"
	"github.com/scoutbridge/scoutbridge/pkg/grpcclient"
	"github.com/scoutbridge/scoutbridge/pkg/testutil"
	"github.com/scoutbridge/scoutbridge/services/scanner/internal/scan"
	"github.com/scoutbridge/scoutbridge/services/scanner/internal/scout"
)

// installScout makes a DOCKER_CONFIG whose cli-plugins holds fakescout as docker-scout, with the given
// fakescout.json.
func installScout(t testing.TB, fakescoutJSON string) string {
	t.Helper()
	bin := testutil.BuildBinary(t, "tools/fakescout")
	cfg := t.TempDir()
	if err := os.MkdirAll(filepath.Join(cfg, "cli-plugins"), 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cfg, "cli-plugins", "docker-scout"), b, 0o755); err != nil {
		t.Fatal(err)
	}
	if fakescoutJSON != "" {
		if err := os.WriteFile(filepath.Join(cfg, "fakescout.json"), []byte(fakescoutJSON), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return cfg
}

// fixture is a scanner served over real gRPC, running Scout through the real docker CLI.
type fixture struct {
	client       scannerv1.ScannerServiceClient
	scans        *scan.Service
	dockerConfig string
	tempRoot     string
	logs         *testutil.SyncBuffer
}

func start(t testing.TB, dockerConfig string, cfg scan.Config, extraEnv ...string) *fixture {
	t.Helper()
	f := &fixture{dockerConfig: dockerConfig, tempRoot: t.TempDir(), logs: &testutil.SyncBuffer{}}
	env := append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "DOCKER_CONFIG=" + dockerConfig,
		"SERVICE_ONLY_SETTING=must-not-leak"}, extraEnv...)
	runner := scout.NewRunner(scout.Options{DockerBin: testutil.DockerCLI(t), Environ: env, TempRoot: f.tempRoot})
	if cfg.Timeout == 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.Concurrency == 0 {
		cfg.Concurrency = 2
	}
	if cfg.QueueSize == 0 {
		cfg.QueueSize = 16
	}
	f.scans = scan.New(cfg, runner)
	logger := slog.New(slog.NewJSONHandler(io.MultiWriter(f.logs), nil))
	srv, _ := chassis.NewGRPCServer(logger)
	scannerv1.RegisterScannerServiceServer(srv, New(f.scans, logger))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	conn, err := grpcclient.New(lis.Addr().String()) // with the trace propagator, as the orchestrator's
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	f.client = scannerv1.NewScannerServiceClient(conn)
	return f
}

// digest makes a valid digest from a short label.
func digest(label string) string {
	h := strings.Repeat("0", 64) + hexOf(label)
	return "sha256:" + h[len(h)-64:]
}

func hexOf(s string) string {
	const hexdigits = "0123456789abcdef"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		b.WriteByte(hexdigits[s[i]>>4])
		b.WriteByte(hexdigits[s[i]&15])
	}
	return b.String()
}

func request(repo, label string) *scannerv1.ScanImageRequest {
	return &scannerv1.ScanImageRequest{Image: &imagev1.Image{Registry: "docker.io", Repository: repo, Digest: digest(label), Tags: []string{"latest"}}}
}

// invocation is one line of fakescout.log.
type invocation struct {
	PID         int      `json:"pid"`
	Args        []string `json:"args"`
	TMPDIR      string   `json:"tmpdir"`
	Traceparent bool     `json:"traceparent"`
	Env         []string `json:"env"`
}

func invocations(t testing.TB, dockerConfig string) []invocation {
	t.Helper()
	fh, err := os.Open(filepath.Join(dockerConfig, "fakescout.log"))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	var out []invocation
	sc := bufio.NewScanner(fh)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var inv invocation
		if err := json.Unmarshal(sc.Bytes(), &inv); err != nil {
			t.Fatalf("fakescout.log line %q: %v", sc.Text(), err)
		}
		out = append(out, inv)
	}
	return out
}

func countCommand(invs []invocation, cmd string) int {
	n := 0
	for _, inv := range invs {
		if len(inv.Args) > 0 && inv.Args[0] == cmd {
			n++
		}
	}
	return n
}
