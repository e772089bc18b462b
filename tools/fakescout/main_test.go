package main

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	built     string
	buildErr  error
)

// install builds the plugin (once) into a temporary DOCKER_CONFIG/cli-plugins/docker-scout.
func install(t *testing.T, cfgJSON string) string {
	t.Helper()
	if _, err := exec.LookPath("docker"); err != nil {
		if os.Getenv("SCOUTBRIDGE_REQUIRE_DOCKER") == "1" {
			t.Fatal("SCOUTBRIDGE_REQUIRE_DOCKER=1 but the docker CLI is not on PATH")
		}
		t.Skip("the docker CLI is not on PATH")
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "fakescout-test-")
		if err != nil {
			buildErr = err
			return
		}
		built = filepath.Join(dir, "docker-scout")
		out, err := exec.Command("go", "build", "-o", built, ".").CombinedOutput()
		if err != nil {
			buildErr = err
			t.Logf("%s", out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	cfg := t.TempDir()
	if err := os.MkdirAll(filepath.Join(cfg, "cli-plugins"), 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(built)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cfg, "cli-plugins", "docker-scout"), b, 0o755); err != nil {
		t.Fatal(err)
	}
	if cfgJSON != "" {
		if err := os.WriteFile(filepath.Join(cfg, "fakescout.json"), []byte(cfgJSON), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return cfg
}

// dockerScout runs `docker scout args...` through the real Docker CLI.
func dockerScout(t *testing.T, cfg string, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command("docker", append([]string{"scout"}, args...)...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "DOCKER_CONFIG=" + cfg}, env...)
	var o, e strings.Builder
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			t.Fatal(err)
		}
	}
	return o.String(), e.String(), cmd.ProcessState.ExitCode()
}

const dig = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestVersionThroughTheDockerCLI(t *testing.T) {
	cfg := install(t, "")
	out, _, code := dockerScout(t, cfg, nil, "version")
	if code != 0 || !strings.Contains(out, "version: v1.18.2") {
		t.Fatalf("exit %d, output %q", code, out)
	}
}

type sarifSeen struct {
	Runs []struct {
		Tool struct {
			Driver struct {
				Name    string `json:"name"`
				Version string `json:"version"`
				Rules   []struct {
					ID         string         `json:"id"`
					Properties map[string]any `json:"properties"`
				} `json:"rules"`
			} `json:"driver"`
		} `json:"tool"`
		Results []struct {
			RuleID    string            `json:"ruleId"`
			Level     string            `json:"level"`
			Message   map[string]string `json:"message"`
			Locations []any             `json:"locations"`
		} `json:"results"`
	} `json:"runs"`
}

func TestCvesIsDeterministicAndShapedLikeScout(t *testing.T) {
	cfg := install(t, `{"default": {"findings": 40}}`)
	out1, _, code := dockerScout(t, cfg, nil, "cves", "--format", "sarif", "registry://acme/api@"+dig)
	file := filepath.Join(t.TempDir(), "r.sarif")
	_, _, code2 := dockerScout(t, cfg, nil, "cves", "--format", "sarif", "--output", file, "--platform", "linux/arm64", "registry://acme/api@"+dig)
	out2, _ := os.ReadFile(file)
	if code != 0 || code2 != 0 || out1 != string(out2) {
		t.Fatalf("exit %d/%d; stdout and --output differ or are not deterministic", code, code2)
	}
	var d sarifSeen
	if err := json.Unmarshal(out2, &d); err != nil {
		t.Fatal(err)
	}
	run := d.Runs[0]
	if len(run.Results) != 40 || run.Tool.Driver.Name != "docker scout" || run.Tool.Driver.Version != "1.18.2" {
		t.Fatalf("%d results, driver %+v", len(run.Results), run.Tool.Driver.Name)
	}
	var multi, cvss4, notFixed, manyLocs int
	sev := map[string]bool{}
	for _, r := range run.Tool.Driver.Rules {
		if p, _ := r.Properties["purls"].([]any); len(p) > 1 {
			multi++
		}
		if v, _ := r.Properties["cvssV3_vector"].(string); strings.HasPrefix(v, "CVSS:4.0/") {
			cvss4++
		}
		if _, ok := r.Properties["security-severity"].(string); !ok {
			t.Errorf("rule %s: security-severity is not a string", r.ID)
		}
		sev[r.Properties["cvssV3_severity"].(string)] = true
	}
	for _, r := range run.Results {
		if strings.Contains(r.Message["text"], "not fixed") {
			notFixed++
		}
		if len(r.Locations) >= 100 {
			manyLocs++
		}
		if !strings.HasPrefix(r.Message["text"], "  Vulnerability   : "+r.RuleID) || !strings.Contains(r.Message["text"], "\n  Package         : pkg:") {
			t.Errorf("message not in Scout's padded format: %q", r.Message["text"])
		}
	}
	if multi == 0 || cvss4 == 0 || notFixed == 0 || manyLocs == 0 || len(sev) != 5 {
		t.Errorf("multi-purl %d, CVSS 4 %d, not fixed %d, 100+ locations %d, severities %v", multi, cvss4, notFixed, manyLocs, sev)
	}
	other, _, _ := dockerScout(t, cfg, nil, "cves", "--format", "sarif", "registry://acme/api@sha256:"+strings.Repeat("f", 64))
	if other == out1 {
		t.Error("two digests gave the same report")
	}
}

func TestSbom(t *testing.T) {
	cfg := install(t, "")
	out, _, code := dockerScout(t, cfg, nil, "sbom", "--format", "json", "--platform", "linux/arm/v7", "registry://acme/api@"+dig)
	var d struct {
		Source struct {
			Image struct {
				Digest   string            `json:"digest"`
				Platform map[string]string `json:"platform"`
				Distro   map[string]string `json:"distro"`
			} `json:"image"`
		} `json:"source"`
		Artifacts  []map[string]any  `json:"artifacts"`
		Descriptor map[string]string `json:"descriptor"`
	}
	if err := json.Unmarshal([]byte(out), &d); err != nil || code != 0 {
		t.Fatalf("exit %d: %v", code, err)
	}
	if d.Source.Image.Digest != dig || d.Source.Image.Platform["architecture"] != "arm" || d.Source.Image.Platform["variant"] != "v7" || len(d.Artifacts) == 0 || d.Descriptor["sbom_version"] != "11" {
		t.Fatalf("sbom %+v", d)
	}
}

func TestBehaviours(t *testing.T) {
	cfg := install(t, `{"default": {"behavior": "ok", "findings": 3},
	  "images": {"acme/auth": {"behavior": "auth"}, "acme/transient": {"behavior": "transient"}, "acme/e125": {"behavior": "exit125"},
	    "acme/panic": {"behavior": "panic"}, "acme/e255": {"behavior": "exit255"}, "acme/garbage": {"behavior": "garbage"},
	    "acme/trailer": {"behavior": "whats_next_trailer"}, "acme/empty": {"behavior": "empty"},
	    "acme/notfound": {"behavior": "not_found"}, "acme/ent": {"behavior": "not_entitled"},
	    "`+dig+`": {"behavior": "unauthorized"}}}`)
	for _, tc := range []struct {
		repo, stream, want string
		code               int
	}{
		{"acme/auth", "stderr", "Log in with your Docker ID", 1},
		{"acme/transient", "stderr", `graphql": EOF`, 1},
		{"acme/e125", "stderr", "unknown flag", 125},
		{"acme/panic", "stderr", "goroutine 1 [running]", 2},
		{"acme/e255", "stderr", "fatal error", 255},
		{"acme/garbage", "stdout", "403 Forbidden", 0},
		{"acme/trailer", "stdout", "What's next", 0},
		{"acme/empty", "stdout", `"results": []`, 0},
		{"acme/notfound", "stderr", "MANIFEST_UNKNOWN", 1},
		{"acme/ent", "stderr", "not entitled", 1},
		{"acme/bydigest", "stderr", "UNAUTHORIZED", 1},
	} {
		t.Run(tc.repo, func(t *testing.T) {
			d := dig
			if tc.repo != "acme/bydigest" {
				d = "sha256:" + strings.Repeat("1", 64)
			}
			out, errOut, code := dockerScout(t, cfg, nil, "cves", "--format", "sarif", "registry://"+tc.repo+"@"+d)
			got := map[string]string{"stdout": out, "stderr": errOut}[tc.stream]
			if code != tc.code || !strings.Contains(got, tc.want) {
				t.Fatalf("exit %d (want %d), %s %q lacks %q", code, tc.code, tc.stream, got, tc.want)
			}
		})
	}
	if _, e, code := dockerScout(t, cfg, nil, "cves", "--bogus", "registry://acme/api@"+dig); code != 125 || !strings.Contains(e, "unknown flag: --bogus") {
		t.Errorf("an unknown flag: exit %d %q", code, e)
	}
}

func TestLogRecordsNamesNeverValuesAndToleratesAReadOnlyDir(t *testing.T) {
	cfg := install(t, "")
	_, _, code := dockerScout(t, cfg, []string{"DOCKER_SCOUT_HUB_PASSWORD=s3cr3t-value", "TRACEPARENT=00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "TMPDIR=/tmp/x"},
		"cves", "--format", "sarif", "registry://acme/api@"+dig)
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	b, err := os.ReadFile(filepath.Join(cfg, "fakescout.log"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "s3cr3t-value") {
		t.Fatal("the log holds an environment value")
	}
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	var e logEntry
	for sc.Scan() {
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatal(err)
		}
	}
	if e.Args[0] != "cves" || !e.Traceparent || e.TMPDIR != "/tmp/x" || !strings.Contains(strings.Join(e.Env, ","), "DOCKER_SCOUT_HUB_PASSWORD") {
		t.Fatalf("log entry %+v", e)
	}
	// The log cannot be written (as with compose's read-only mount, even for root): still a scan.
	ro := install(t, "")
	if err := os.Mkdir(filepath.Join(ro, "fakescout.log"), 0o555); err != nil {
		t.Fatal(err)
	}
	if out, _, code := dockerScout(t, ro, nil, "cves", "--format", "sarif", "registry://acme/api@"+dig); code != 0 || !strings.Contains(out, "docker scout") {
		t.Fatalf("an unwritable log: exit %d", code)
	}
}

func TestLatencyPerImageOverTheDefault(t *testing.T) {
	cfg := install(t, `{"default": {"latency_ms": 0}, "images": {"acme/slow": {"latency_ms": 2000}}}`)
	for _, tc := range []struct {
		repo     string
		min, max time.Duration
	}{
		{"acme/slow", 2 * time.Second, time.Minute},
		{"acme/fast", 0, 1500 * time.Millisecond},
	} {
		began := time.Now()
		_, _, code := dockerScout(t, cfg, nil, "sbom", "--format", "json", "registry://"+tc.repo+"@"+dig)
		if d := time.Since(began); code != 0 || d < tc.min || d > tc.max {
			t.Errorf("%s: exit %d after %s, want between %s and %s", tc.repo, code, d, tc.min, tc.max)
		}
	}
}
