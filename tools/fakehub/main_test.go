package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var bin string

// TestMain builds the command once into a temporary directory (never into the tree).
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "fakehub-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "fakehub")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build fakehub: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// start runs fakehub with args and waits until it answers.
func start(t *testing.T, args ...string) string {
	t.Helper()
	return startEnv(t, nil, args...)
}

// startEnv is start with extra environment variables.
func startEnv(t *testing.T, env []string, args ...string) string {
	t.Helper()
	addr := freeAddr(t)
	var out bytes.Buffer
	cmd := exec.Command(bin, append([]string{"-listen", addr}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	for deadline := time.Now().Add(10 * time.Second); ; {
		if resp, err := http.Get("http://" + addr + "/_fake/health"); err == nil {
			resp.Body.Close()
			return addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("fakehub did not answer on %s:\n%s", addr, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func getJSON(t *testing.T, url string, header ...string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if len(header) == 2 {
		req.Header.Set(header[0], header[1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	raw, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(raw, &body)
	return resp.StatusCode, body
}

func TestDemoCatalogWithAPublicURL(t *testing.T) {
	addr := start(t, "-demo", "-public-url", "http://fakehub.example:8081")
	code, body := getJSON(t, "http://"+addr+"/v2/namespaces/acme/repositories?page_size=2&ordering=-last_updated")
	if code != 200 || body["count"] != float64(7) {
		t.Fatalf("%d %v: want the 7 demo repositories", code, body)
	}
	next, _ := body["next"].(string)
	if !strings.HasPrefix(next, "http://fakehub.example:8081/v2/namespaces/acme/repositories?") {
		t.Errorf("next %q: want an absolute URL on the public URL", next)
	}
	if first := body["results"].([]any)[0].(map[string]any)["name"]; first != "gateway" {
		t.Errorf("newest repository %v, want gateway (pushed 1 h before start)", first)
	}
}

func TestExpiredTokensFlag(t *testing.T) {
	addr := start(t, "-demo", "-expired-tokens")
	resp, err := http.Post("http://"+addr+"/v2/auth/token", "application/json", strings.NewReader(`{"identifier":"bob","secret":"pat"}`))
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if tok.AccessToken == "" || strings.Count(tok.AccessToken, ".") != 2 {
		t.Fatalf("token %q: want a JWT-shaped token", tok.AccessToken)
	}
	if code, _ := getJSON(t, "http://"+addr+"/v2/user/orgs/", "Authorization", "Bearer "+tok.AccessToken); code != 401 {
		t.Errorf("a call with the freshly issued token: %d, want 401", code)
	}
}

func TestHealthcheckFlag(t *testing.T) {
	addr := start(t)
	if out, err := exec.Command(bin, "-healthcheck", "-listen", addr).CombinedOutput(); err != nil {
		t.Errorf("healthcheck against a running fakehub: %v %s", err, out)
	}
	if err := exec.Command(bin, "-healthcheck", "-listen", freeAddr(t)).Run(); err == nil {
		t.Error("healthcheck with nothing listening should fail")
	}
}

func TestBadFlagsSayWhatIsWrong(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"generator shape", []string{"-generate", "2x200"}, "want NxMxK"},
		{"error ratio", []string{"-error-ratio", "1.5"}, "between 0 and 1"},
		{"missing catalog", []string{"-catalog", "/nonexistent/catalog.json"}, "-catalog"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := exec.Command(bin, append([]string{"-listen", freeAddr(t)}, tt.args...)...).CombinedOutput()
			if err == nil || !strings.Contains(string(out), tt.want) {
				t.Errorf("err %v, output %q; want a failure saying %q", err, out, tt.want)
			}
		})
	}
}

func TestCatalogFileAndGenerator(t *testing.T) {
	file := filepath.Join(t.TempDir(), "catalog.json")
	catalog := `{"pushes": [{"namespace": "shop", "repository": "cart", "tags": ["1.0", "latest"],
		"pushed_at": "2026-11-20T10:00:00Z", "platforms": ["linux/amd64", "linux/arm64"], "attestations": true}]}`
	if err := os.WriteFile(file, []byte(catalog), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := start(t, "-catalog", file, "-generate", "2x3x4", "-seed", "7")
	code, body := getJSON(t, "http://"+addr+"/v2/repositories/shop/cart/tags")
	if code != 200 || body["count"] != float64(2) {
		t.Fatalf("tags of the catalog's repository: %d %v", code, body)
	}
	tag := body["results"].([]any)[0].(map[string]any)
	if !strings.HasPrefix(tag["tag_last_pushed"].(string), "2026-11-20T10:00:00") {
		t.Errorf("tag_last_pushed %v", tag["tag_last_pushed"])
	}
	if n := len(tag["images"].([]any)); n != 4 {
		t.Errorf("%d images, want 2 platforms + 2 attestation entries", n)
	}
	for _, ns := range []string{"ns0", "ns1"} {
		if code, body := getJSON(t, "http://"+addr+"/v2/namespaces/"+ns+"/repositories"); code != 200 || body["count"] != float64(3) {
			t.Errorf("generated namespace %s: %d %v, want 3 repositories", ns, code, body)
		}
	}
	if code, body := getJSON(t, "http://"+addr+"/v2/namespaces/ns1/repositories/repo-0002/tags"); code != 200 || body["count"] != float64(4) {
		t.Errorf("generated repository: %d %v, want 4 tags", code, body)
	}
}

func TestTheTokenComesFromTheEnvironmentOrAFileNeverAFlag(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second) // a fakehub that accepts the flag serves on
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "-listen", freeAddr(t), "-token", "dckr_pat_on-the-command-line").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "-token") {
		t.Errorf("-token was accepted (err %v, output %q); a secret on the command line is visible to ps", err, out)
	}
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte("dckr_pat_from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := startEnv(t, []string{"FAKEHUB_USERNAME=bob", "FAKEHUB_TOKEN_FILE=" + file})
	login := func(secret string) int {
		resp, err := http.Post("http://"+addr+"/v2/auth/token", "application/json",
			strings.NewReader(`{"identifier":"bob","secret":"`+secret+`"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := login("dckr_pat_from-file"); got != http.StatusOK {
		t.Errorf("the token of FAKEHUB_TOKEN_FILE: %d, want 200", got)
	}
	if got := login("dckr_pat_other"); got != http.StatusUnauthorized {
		t.Errorf("another token: %d, want 401", got)
	}
}
