package inventory

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scoutbridge/scoutbridge/pkg/testutil"
)

// The Docker source against the real engine on this machine: images built locally FROM scratch (no
// pulls), one pushed to a CNCF distribution registry on loopback so that it has a repository digest,
// one never pushed (matched by its config digest), containers with stage labels and environment, and a
// stopped container that ages out.

const (
	dockerSock = "/var/run/docker.sock"
	// registryVersion is the distribution registry the test builds when bin/registry is absent.
	registryVersion = "v3.0.0"
)

// requireDocker skips the test when the engine, its socket or the docker CLI is missing, or fails it
// when SCOUTBRIDGE_REQUIRE_DOCKER=1 (CI on a machine that must run it).
func requireDocker(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(dockerSock); err != nil {
		testutil.RequireDocker(t, "no Docker Engine at %s", dockerSock)
	}
	if _, err := exec.LookPath("docker"); err != nil {
		testutil.RequireDocker(t, "no docker CLI on PATH")
	}
	src, err := NewDocker("", DefaultStageNames)
	must(t, err)
	var info struct{}
	if err := src.get(t.Context(), "/info", &info); err != nil {
		testutil.RequireDocker(t, "the Docker Engine does not answer: %v", err)
	}
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, out.String(), errb.String())
	}
	return strings.TrimSpace(out.String())
}

// buildScratchImage compiles a static program that sleeps until stopped and builds a FROM scratch
// image of it, tagged tag. variant changes the image's config so two builds differ.
func buildScratchImage(t *testing.T, tag, variant string) {
	t.Helper()
	dir := t.TempDir()
	src := "package main\n\nimport (\n\t\"os\"\n\t\"os/signal\"\n\t\"syscall\"\n)\n\nfunc main() {\n\tc := make(chan os.Signal, 1)\n\tsignal.Notify(c, syscall.SIGTERM, syscall.SIGINT)\n\t<-c\n}\n"
	must(t, os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o600))
	must(t, os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module sleeper\n\ngo 1.26\n"), 0o600))
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", filepath.Join(dir, "sleeper"), ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off", "GOFLAGS=")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the sleeper: %v\n%s", err, b)
	}
	df := fmt.Sprintf("FROM scratch\nCOPY sleeper /sleeper\nLABEL org.scoutbridge.test.variant=%q\nENTRYPOINT [\"/sleeper\"]\n", variant)
	must(t, os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(df), 0o600))
	run(t, "docker", "build", "-q", "-t", tag, dir)
	t.Cleanup(func() { _ = exec.Command("docker", "rmi", "-f", tag).Run() })
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// registryBinary finds the CNCF distribution registry: SCOUTBRIDGE_REGISTRY_BIN, the Makefile's pinned
// <repo root>/bin/registry, a build cached in $TMPDIR, or `go install` into that cache (module proxy
// only). "" when none works; with SCOUTBRIDGE_REQUIRE_DOCKER=1 that fails the test instead.
func registryBinary(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("SCOUTBRIDGE_REGISTRY_BIN"); bin != "" {
		if _, err := os.Stat(bin); err != nil {
			t.Fatalf("SCOUTBRIDGE_REGISTRY_BIN: %v", err)
		}
		return bin
	}
	cacheDir := filepath.Join(os.TempDir(), "scoutbridge-registry-"+registryVersion)
	for _, bin := range []string{filepath.Join(testutil.RepoRoot(t), "bin", "registry"), filepath.Join(cacheDir, "registry")} {
		if _, err := os.Stat(bin); err == nil {
			return bin
		}
	}
	cmd := exec.Command("go", "install", "github.com/distribution/distribution/v3/cmd/registry@"+registryVersion)
	cmd.Dir = os.TempDir()
	cmd.Env = append(os.Environ(), "GOBIN="+cacheDir, "GOWORK=off", "GOFLAGS=-mod=mod", "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		if os.Getenv("SCOUTBRIDGE_REQUIRE_DOCKER") == "1" {
			t.Fatalf("SCOUTBRIDGE_REQUIRE_DOCKER=1 but the distribution registry is neither in bin/ nor buildable (%v):\n%s", err, b)
		}
		t.Logf("cannot build the distribution registry (%v); the pushed-image case is skipped:\n%s", err, b)
		return ""
	}
	return filepath.Join(cacheDir, "registry")
}

func startRegistry(t *testing.T, bin string) string {
	t.Helper()
	addr := testutil.FreeAddr(t)
	dir := t.TempDir()
	cfg := fmt.Sprintf("version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: %s\n", filepath.Join(dir, "data"), addr)
	must(t, os.WriteFile(filepath.Join(dir, "config.yml"), []byte(cfg), 0o600))
	testutil.StartProcess(t, bin, nil, "serve", filepath.Join(dir, "config.yml"))
	testutil.Eventually(t, 20*time.Second, func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	}, "registry did not listen on %s", addr)
	return addr
}

// manifestDigest asks the registry, not Docker, for the digest of repo:tag.
func manifestDigest(t *testing.T, registry, repo, tag string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodHead, "http://"+registry+"/v2/"+repo+"/manifests/"+tag, nil)
	req.Header.Set("Accept", "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	d := resp.Header.Get("Docker-Content-Digest")
	if resp.StatusCode != http.StatusOK || d == "" {
		t.Fatalf("HEAD manifest %s:%s: %s, digest %q", repo, tag, resp.Status, d)
	}
	return d
}

func startContainer(t *testing.T, name string, args ...string) {
	t.Helper()
	run(t, "docker", append([]string{"run", "-d", "--name", name}, args...)...)
	t.Cleanup(func() { _ = exec.Command("docker", "rm", "-f", name).Run() })
}

func byName(cs []Container) map[string]Container {
	m := map[string]Container{}
	for _, c := range cs {
		m[c.Name] = c
	}
	return m
}

func TestDockerEngineSource(t *testing.T) {
	requireDocker(t)
	suffix := fmt.Sprintf("%d", time.Now().UnixNano()%1_000_000_000)
	prefix := "sbtest-" + suffix

	// A never-pushed image: no RepoDigests, matched by its config digest.
	localTag := "scoutbridge-test/local:" + suffix
	buildScratchImage(t, localTag, "local-"+suffix)
	localID := run(t, "docker", "image", "inspect", "-f", "{{.Id}}", localTag)

	// A pushed image, when the registry can be built.
	var pushedRef, pushedDigest string
	if bin := registryBinary(t); bin != "" {
		reg := startRegistry(t, bin)
		pushedRef = reg + "/scoutbridge-test/app:" + suffix
		buildScratchImage(t, pushedRef, "pushed-"+suffix)
		run(t, "docker", "push", "-q", pushedRef)
		pushedDigest = manifestDigest(t, reg, "scoutbridge-test/app", suffix)
	}

	startContainer(t, prefix+"-prod", "--label", "dynatrace-release-stage=production", "--label", "com.docker.compose.service=api",
		"-e", "DT_RELEASE_PRODUCT=shop", localTag)
	startContainer(t, prefix+"-staging", "-e", "DT_RELEASE_STAGE=staging", localTag)
	startContainer(t, prefix+"-stopped", "--label", "dynatrace-release-stage=production", localTag)
	if pushedRef != "" {
		startContainer(t, prefix+"-pushed", "-e", "DT_RELEASE_STAGE=production", pushedRef)
	}

	src, err := NewDocker("", DefaultStageNames)
	must(t, err)
	inv := New(3*time.Hour, src)
	t0 := time.Now()
	inv.SetClock(func() time.Time { return t0 })
	must(t, inv.Poll(t.Context()))

	seen := byName(inv.Running(t0))
	prod, ok := seen[prefix+"-prod"]
	if !ok {
		t.Fatalf("the production container is missing from %v", seen)
	}
	if prod.Stage != "production" || prod.Product != "shop" || prod.Workload != "api" || prod.State != "running" || prod.Source != "docker" {
		t.Errorf("production container: %+v", prod)
	}
	if prod.ImageDigest != localID {
		t.Errorf("never-pushed image: digest %q, want its config digest %q", prod.ImageDigest, localID)
	}
	if st := seen[prefix+"-staging"]; st.Stage != "staging" {
		t.Errorf("staging container (stage from DT_RELEASE_STAGE): %+v", st)
	}
	if pushedRef != "" {
		p := seen[prefix+"-pushed"]
		if p.ImageDigest != pushedDigest {
			t.Errorf("pushed image: digest %q, want the registry's manifest digest %q (digests %v)", p.ImageDigest, pushedDigest, p.Digests)
		}
		if p.Stage != "production" {
			t.Errorf("pushed container stage %q", p.Stage)
		}
	}

	// The stopped container was seen running at t0; two hours later it still counts, after more than
	// RUNTIME_MAX_AGE it has aged out while the others, seen again, stay.
	run(t, "docker", "stop", "-t", "1", prefix+"-stopped")
	inv.SetClock(func() time.Time { return t0.Add(2 * time.Hour) })
	must(t, inv.Poll(t.Context()))
	if _, ok := byName(inv.Running(t0.Add(2 * time.Hour)))[prefix+"-stopped"]; !ok {
		t.Error("a container seen running 2h ago should still count as running")
	}
	later := byName(inv.Running(t0.Add(3*time.Hour + 30*time.Minute)))
	if _, ok := later[prefix+"-stopped"]; ok {
		t.Error("the stopped container did not age out after RUNTIME_MAX_AGE")
	}
	if _, ok := later[prefix+"-prod"]; !ok {
		t.Error("the running container aged out although it was seen 1.5h before")
	}
	h := inv.Health()
	if len(h) != 1 || !h[0].Healthy || h[0].Name != "docker" {
		t.Errorf("health %+v", h)
	}
}

func TestDockerSourceReportsAnUnreachableEngine(t *testing.T) {
	src, err := NewDocker("unix://"+filepath.Join(t.TempDir(), "nope.sock"), DefaultStageNames)
	must(t, err)
	inv := New(time.Hour, src)
	if err := inv.Poll(context.Background()); err == nil {
		t.Fatal("poll of a missing socket succeeded")
	}
	h := inv.Health()[0]
	if h.Healthy || !strings.Contains(h.LastError, "nope.sock") {
		t.Errorf("health %+v: want unhealthy with the cause", h)
	}
	if _, err := NewDocker("ftp://x", DefaultStageNames); err == nil {
		t.Error("an ftp DOCKER_HOST was accepted")
	}
}
