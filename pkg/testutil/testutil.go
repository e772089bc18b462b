// Package testutil holds what scoutbridge tests share: loopback addresses, building and running the
// project's binaries as real processes, waiting for health, and polling for a condition.
package testutil

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// FreeAddr returns a loopback address with a port that was free a moment ago.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().String()
}

// RepoRoot is the directory that holds go.work.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.work not found above the test's directory")
		}
		dir = parent
	}
}

var (
	buildMu  sync.Mutex
	built    = map[string]string{}
	buildDir string
)

// BuildBinary builds a main package (an import path, or a directory relative to the repository root)
// once per test process and returns the binary's path. Binaries go to a temporary directory, never into
// the tree. The file name is the package's last path element, so a plugin keeps its required name.
func BuildBinary(t testing.TB, pkg string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if bin, ok := built[pkg]; ok {
		return bin
	}
	if buildDir == "" {
		d, err := processBuildDir()
		if err != nil {
			t.Fatal(err)
		}
		buildDir = d
	}
	root := RepoRoot(t)
	target := pkg
	if !strings.Contains(pkg, ".") || strings.HasPrefix(pkg, "./") {
		target = "./" + strings.TrimPrefix(pkg, "./")
	}
	sum := sha256.Sum256([]byte(pkg))
	out := filepath.Join(buildDir, hex.EncodeToString(sum[:6]), filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-o", out, target)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	built[pkg] = out
	return out
}

// processBuildDir is $TMPDIR/scoutbridge-testbin/<pid>, this test process's own. A test binary has no
// hook that runs when it exits, so each one removes the directories of processes that are gone.
func processBuildDir() (string, error) {
	parent := filepath.Join(os.TempDir(), "scoutbridge-testbin")
	if entries, err := os.ReadDir(parent); err == nil {
		for _, e := range entries {
			pid, err := strconv.Atoi(e.Name())
			if err == nil && pid != os.Getpid() && syscall.Kill(pid, 0) == syscall.ESRCH {
				_ = os.RemoveAll(filepath.Join(parent, e.Name()))
			}
		}
	}
	dir := filepath.Join(parent, strconv.Itoa(os.Getpid()))
	return dir, os.MkdirAll(dir, 0o755)
}

// Process is a binary started by a test.
type Process struct {
	Cmd    *exec.Cmd
	Output *SyncBuffer
	done   chan struct{}
	err    error
}

// StartProcess starts bin with the test's environment plus env ("KEY=value"), capturing stdout and
// stderr. At cleanup it is stopped with SIGTERM (SIGKILL after 10 s). On failure the output is logged.
func StartProcess(t testing.TB, bin string, env []string, args ...string) *Process {
	t.Helper()
	p := &Process{Output: &SyncBuffer{}, done: make(chan struct{})}
	p.Cmd = exec.Command(bin, args...)
	p.Cmd.Env = append(os.Environ(), env...)
	p.Cmd.Stdout = p.Output
	p.Cmd.Stderr = p.Output
	p.Cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.Cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	go func() { p.err = p.Cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.Stop(10 * time.Second)
		if t.Failed() {
			t.Logf("output of %s:\n%s", filepath.Base(bin), p.Output.String())
		}
	})
	return p
}

// Stop sends SIGTERM and waits up to timeout (then SIGKILL). It returns the exit code (-1 if killed).
func (p *Process) Stop(timeout time.Duration) int {
	select {
	case <-p.done:
		return p.ExitCode()
	default:
	}
	_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.Kill()
	}
	return p.ExitCode()
}

// Kill sends SIGKILL to the process group (a crash: nothing runs after it) and waits for it.
func (p *Process) Kill() {
	_ = syscall.Kill(-p.Cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
}

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// ExitCode is the exit code once the process has exited, -1 when killed by a signal.
func (p *Process) ExitCode() int {
	<-p.done
	return p.Cmd.ProcessState.ExitCode()
}

// WaitServing waits up to 30 s for the gRPC server at addr to answer health SERVING.
func WaitServing(t testing.TB, addr string) {
	t.Helper()
	conn := Dial(t, addr)
	client := healthpb.NewHealthClient(conn)
	var last error
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		resp, err := client.Check(ctx, &healthpb.HealthCheckRequest{})
		cancel()
		if err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			return
		}
		last = err
		if err == nil {
			last = fmt.Errorf("status %s", resp.GetStatus())
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s did not become SERVING within 30s: %v", addr, last)
}

// Dial returns a plain client connection to addr, closed at cleanup.
func Dial(t testing.TB, addr string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// Eventually polls cond every 20 ms until it holds or timeout passes, then fails with msg.
func Eventually(t testing.TB, timeout time.Duration, cond func() bool, msg string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: "+msg, append([]any{timeout}, args...)...)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// SyncBuffer is a bytes.Buffer safe for a process writing and a test reading at once.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// RequireDocker is how a test says it cannot run without Docker (the CLI, the engine): it skips with
// the reason, or fails with it when SCOUTBRIDGE_REQUIRE_DOCKER=1 says Docker is there and must be used
// (.ci/run sets it), so that a Docker test never goes quietly missing in CI.
func RequireDocker(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("SCOUTBRIDGE_REQUIRE_DOCKER") == "1" {
		t.Fatalf("SCOUTBRIDGE_REQUIRE_DOCKER=1 but "+format, args...)
	}
	t.Skipf(format, args...)
}

// DockerCLI is the path of the docker binary on PATH (see RequireDocker when there is none).
func DockerCLI(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("docker")
	if err != nil {
		RequireDocker(t, "the docker CLI is not on PATH")
	}
	return p
}

// Running reports whether process pid exists and is not a zombie (exited, not yet reaped by its
// parent): what a test means by "no process was left behind".
func Running(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')') // the command name, in parentheses, may hold anything
	return i < 0 || len(s) <= i+2 || s[i+2] != 'Z'
}
