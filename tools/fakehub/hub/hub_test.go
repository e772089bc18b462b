package hub_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/scoutbridge/scoutbridge/tools/fakehub/hub"
)

func get(t *testing.T, h http.Handler, url string, header ...string) (*http.Response, map[string]any) {
	t.Helper()
	req := httptest.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var body map[string]any
	_ = json.Unmarshal(rec.Body.Bytes(), &body)
	return rec.Result(), body
}

func post(t *testing.T, h http.Handler, url, body string) (int, map[string]any) {
	t.Helper()
	req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, url, strings.NewReader(body))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var out map[string]any
	_ = json.Unmarshal(rec.Body.Bytes(), &out)
	return rec.Code, out
}

func TestRepositoriesPaging(t *testing.T) {
	h := hub.New(hub.Options{PublicURL: "http://registry.example:9999/"})
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 5 {
		if err := h.Push(hub.Push{Namespace: "acme", Repository: "r" + strconv.Itoa(i), Tags: []string{"v1"}, PushedAt: base.Add(time.Duration(i) * time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name      string
		url       string
		code      int
		wantFirst string
		wantNext  string
		wantCount int
	}{
		{"newest first with an absolute next on the public URL", "/v2/namespaces/acme/repositories?page_size=2&ordering=-last_updated", 200, "r4",
			"http://registry.example:9999/v2/namespaces/acme/repositories?ordering=-last_updated&page=2&page_size=2", 2},
		{"legacy path answers the same", "/v2/repositories/acme/?page_size=2&ordering=-last_updated", 200, "r4",
			"http://registry.example:9999/v2/repositories/acme/?ordering=-last_updated&page=2&page_size=2", 2},
		{"last page has no next", "/v2/namespaces/acme/repositories?page_size=2&page=3&ordering=last_updated", 200, "r4", "", 1},
		{"page past the end is 404", "/v2/namespaces/acme/repositories?page_size=2&page=4", 404, "", "", 0},
		{"page_size is capped at 100", "/v2/namespaces/acme/repositories?page_size=1000", 200, "r0", "", 5},
		{"unknown namespace is 404", "/v2/namespaces/nobody/repositories", 404, "", "", 0},
		{"bad ordering is 400", "/v2/namespaces/acme/repositories?ordering=size", 400, "", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := get(t, h, tt.url)
			if resp.StatusCode != tt.code {
				t.Fatalf("status %d, want %d (%v)", resp.StatusCode, tt.code, body)
			}
			if tt.code != 200 {
				return
			}
			results := body["results"].([]any)
			if len(results) != tt.wantCount {
				t.Fatalf("%d results, want %d", len(results), tt.wantCount)
			}
			if got := results[0].(map[string]any)["name"]; got != tt.wantFirst {
				t.Errorf("first %v, want %s", got, tt.wantFirst)
			}
			next, _ := body["next"].(string)
			if next != tt.wantNext {
				t.Errorf("next %q, want %q", next, tt.wantNext)
			}
		})
	}
}

func TestTagObjectsAreShapedLikeDockerHub(t *testing.T) {
	h := hub.New(hub.Options{})
	at := time.Date(2026, 3, 23, 9, 48, 42, 77090000, time.UTC)
	if err := h.Push(
		hub.Push{Namespace: "acme", Repository: "api", Tags: []string{"1.0", "latest"}, PushedAt: at, Platforms: []string{"linux/amd64", "linux/arm64/v8"}, Attestations: true},
		hub.Push{Namespace: "acme", Repository: "api", Tags: []string{"old"}, PushedAt: at.Add(-time.Hour), OmitDigest: true},
	); err != nil {
		t.Fatal(err)
	}
	_, body := get(t, h, "/v2/namespaces/acme/repositories/api/tags?page_size=100")
	tags := map[string]map[string]any{}
	for _, r := range body["results"].([]any) {
		tag := r.(map[string]any)
		tags[tag["name"].(string)] = tag
	}
	latest, one := tags["latest"], tags["1.0"]
	if latest["digest"] != one["digest"] || latest["digest"] == nil {
		t.Errorf("tags of one push share one digest: %v vs %v", latest["digest"], one["digest"])
	}
	if latest["media_type"] != hub.MediaTypeOCIIndex || latest["tag_status"] != "active" {
		t.Errorf("media_type %v tag_status %v", latest["media_type"], latest["tag_status"])
	}
	images := latest["images"].([]any)
	if len(images) != 4 {
		t.Fatalf("%d images, want 2 platforms + 2 attestations", len(images))
	}
	var unknown int
	for _, im := range images {
		if im.(map[string]any)["os"] == "unknown" {
			unknown++
		}
	}
	if unknown != 2 {
		t.Errorf("%d attestation entries, want 2", unknown)
	}
	if _, ok := tags["old"]["digest"]; ok {
		t.Errorf("omit_digest tag still has a digest")
	}
	if tags["old"]["media_type"] != hub.MediaTypeImage || len(tags["old"]["images"].([]any)) != 1 {
		t.Errorf("single-arch tag: %v", tags["old"])
	}
	if _, err := time.Parse(time.RFC3339Nano, latest["tag_last_pushed"].(string)); err != nil {
		t.Errorf("tag_last_pushed: %v", err)
	}
	resp, one2 := get(t, h, "/v2/repositories/acme/api/tags/latest")
	if resp.StatusCode != 200 || one2["digest"] != latest["digest"] {
		t.Errorf("one tag on the legacy path: %d %v", resp.StatusCode, one2["digest"])
	}
	if resp, _ := get(t, h, "/v2/namespaces/acme/repositories/api/tags/nope"); resp.StatusCode != 404 {
		t.Errorf("missing tag: %d, want 404", resp.StatusCode)
	}
}

func TestDigestsAreReproducible(t *testing.T) {
	digestOf := func() any {
		h := hub.New(hub.Options{})
		if err := h.Push(hub.Demo(time.Now())...); err != nil {
			t.Fatal(err)
		}
		_, body := get(t, h, "/v2/namespaces/acme/repositories/web/tags")
		return body["results"].([]any)[0].(map[string]any)["digest"]
	}
	if a, b := digestOf(), digestOf(); a != b || a == nil {
		t.Errorf("digests differ between runs: %v %v", a, b)
	}
}

func TestAuthTokensExpire(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	h := hub.New(hub.Options{Username: "bob", Token: "dckr_pat_x", TokenTTL: time.Minute, Now: func() time.Time { return now }})
	if code, _ := post(t, h, "/v2/auth/token", `{"identifier":"bob","secret":"wrong"}`); code != 401 {
		t.Errorf("wrong secret: %d, want 401", code)
	}
	code, body := post(t, h, "/v2/auth/token", `{"identifier":"bob","secret":"dckr_pat_x"}`)
	tok, _ := body["access_token"].(string)
	if code != 200 || strings.Count(tok, ".") != 2 {
		t.Fatalf("auth/token: %d %v", code, body)
	}
	code, body = post(t, h, "/v2/users/login/", `{"username":"bob","password":"dckr_pat_x"}`)
	if code != 200 || body["token"] == "" {
		t.Fatalf("users/login: %d %v", code, body)
	}
	if resp, body := get(t, h, "/v2/user/orgs/", "Authorization", "Bearer "+tok); resp.StatusCode != 200 {
		t.Fatalf("orgs with a fresh token: %d %v", resp.StatusCode, body)
	}
	if resp, _ := get(t, h, "/v2/user/orgs/"); resp.StatusCode != 401 {
		t.Errorf("orgs anonymously: %d, want 401", resp.StatusCode)
	}
	now = now.Add(61 * time.Second)
	if resp, _ := get(t, h, "/v2/user/orgs/", "Authorization", "Bearer "+tok); resp.StatusCode != 401 {
		t.Errorf("orgs with an expired token: %d, want 401", resp.StatusCode)
	}
}

func TestRateLimitAnswers429WithBothHeaders(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 30, 0, time.UTC)
	h := hub.New(hub.Options{RateLimit: 2, Now: func() time.Time { return now }})
	_ = h.Push(hub.Push{Namespace: "acme", Repository: "api", Tags: []string{"v1"}})
	resp, _ := get(t, h, "/v2/namespaces/acme/repositories")
	if resp.Header.Get("X-RateLimit-Limit") != "2" || resp.Header.Get("X-RateLimit-Remaining") != "1" || resp.Header.Get("X-RateLimit-Reset") != strconv.FormatInt(now.Unix()+30, 10) {
		t.Errorf("rate-limit headers: %v", resp.Header)
	}
	get(t, h, "/v2/namespaces/acme/repositories")
	resp, _ = get(t, h, "/v2/namespaces/acme/repositories")
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "30" || resp.Header.Get("X-Retry-After") != strconv.FormatInt(now.Unix()+30, 10) {
		t.Errorf("over budget: %d %v", resp.StatusCode, resp.Header)
	}
	now = now.Add(31 * time.Second)
	if resp, _ := get(t, h, "/v2/namespaces/acme/repositories"); resp.StatusCode != 200 {
		t.Errorf("next minute: %d, want 200", resp.StatusCode)
	}
	if c := h.Calls(); c.Total != 4 || c.Throttled != 1 || c.Paths["repositories"] != 4 {
		t.Errorf("calls %+v", c)
	}
}

func TestControlEndpoints(t *testing.T) {
	h := hub.New(hub.Options{})
	srv := httptest.NewServer(h)
	defer srv.Close()
	do := func(method, path, body string) (int, string) {
		req, _ := http.NewRequestWithContext(t.Context(), method, srv.URL+path, strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := do("POST", "/_fake/push", `{"namespace":"acme","repository":"api","tags":["v1","latest"],"platforms":["linux/amd64","linux/arm64"]}`); code != 200 {
		t.Fatalf("push: %d %s", code, body)
	}
	if code, body := do("POST", "/_fake/push", `[{"namespace":"acme","repository":"web","tags":["v1"]},{"namespace":"Bad!","repository":"x","tags":[]}]`); code != 400 || !strings.Contains(body, `namespace \"Bad!\"`) {
		t.Errorf("bad push: %d %s", code, body)
	}
	if code, body := do("GET", "/v2/namespaces/acme/repositories", ""); code != 200 || strings.Contains(body, `"web"`) {
		t.Errorf("a rejected batch stores nothing: %d %s", code, body)
	}
	if code, body := do("PUT", "/_fake/faults", `{"fail_next":1}`); code != 200 {
		t.Fatalf("faults: %d %s", code, body)
	}
	if code, _ := do("GET", "/v2/namespaces/acme/repositories/api/tags", ""); code != 503 {
		t.Errorf("injected failure: %d, want 503", code)
	}
	if code, _ := do("PUT", "/_fake/faults", `{"error_ratio":2}`); code != 400 {
		t.Errorf("bad faults: %d, want 400", code)
	}
	code, body := do("GET", "/_fake/calls", "")
	var calls hub.Calls
	if err := json.Unmarshal([]byte(body), &calls); err != nil || code != 200 || calls.Total != 2 || calls.Failed != 1 {
		t.Errorf("calls: %d %s", code, body)
	}
}

func TestGenerateIsDeterministic(t *testing.T) {
	end := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	g := hub.Generator{Namespaces: 2, Repositories: 3, Tags: 4, Spread: 72 * time.Hour, End: end, Seed: 7}
	a, b := hub.Generate(g), hub.Generate(g)
	if len(a) != 24 {
		t.Fatalf("%d pushes, want 24", len(a))
	}
	for i := range a {
		if a[i].PushedAt != b[i].PushedAt || strings.Join(a[i].Platforms, ",") != strings.Join(b[i].Platforms, ",") {
			t.Fatalf("push %d differs", i)
		}
		if a[i].PushedAt.After(end) || a[i].PushedAt.Before(end.Add(-72*time.Hour)) {
			t.Errorf("push %d at %s outside the spread", i, a[i].PushedAt)
		}
	}
}

func TestTimestampsCarryZeroToNineFractionalDigits(t *testing.T) {
	h := hub.New(hub.Options{})
	at := time.Date(2026, 3, 23, 9, 48, 42, 123456789, time.UTC)
	for i := range 24 {
		if err := h.Push(hub.Push{Namespace: "acme", Repository: "api", Tags: []string{"t" + strconv.Itoa(i)}, PushedAt: at}); err != nil {
			t.Fatal(err)
		}
	}
	_, body := get(t, h, "/v2/namespaces/acme/repositories/api/tags?page_size=100")
	seen := map[int]bool{}
	for _, r := range body["results"].([]any) {
		s := r.(map[string]any)["tag_last_pushed"].(string)
		digits := 0
		if _, frac, ok := strings.Cut(strings.TrimSuffix(s, "Z"), "."); ok {
			digits = len(frac)
		}
		seen[digits] = true
		got, err := time.Parse(time.RFC3339Nano, s)
		if err != nil || got.After(at) || at.Sub(got) >= time.Second {
			t.Errorf("tag_last_pushed %q: %v; want the push time truncated", s, err)
		}
	}
	for d := range 10 {
		if !seen[d] {
			t.Errorf("no timestamp with %d fractional digits; seen %v", d, seen)
		}
	}
}

func TestInactiveRepositories(t *testing.T) {
	h := hub.New(hub.Options{})
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := h.Push(
		hub.Push{Namespace: "acme", Repository: "dormant", Tags: []string{"v1"}, PushedAt: at, InactiveRepository: true},
		hub.Push{Namespace: "acme", Repository: "revived", Tags: []string{"v1"}, PushedAt: at, InactiveRepository: true},
		hub.Push{Namespace: "acme", Repository: "revived", Tags: []string{"v2"}, PushedAt: at.Add(time.Hour)},
		hub.Push{Namespace: "acme", Repository: "revived", Tags: []string{"v0"}, PushedAt: at.Add(-time.Hour), InactiveRepository: true},
	); err != nil {
		t.Fatal(err)
	}
	_, body := get(t, h, "/v2/namespaces/acme/repositories?ordering=name")
	got := map[string]string{}
	for _, r := range body["results"].([]any) {
		repo := r.(map[string]any)
		got[repo["name"].(string)] = fmt.Sprint(repo["status"], " ", repo["status_description"])
	}
	if got["dormant"] != "0 inactive" || got["revived"] != "1 active" {
		t.Errorf("status of the repositories %v; want dormant inactive, revived active (its newest push decides)", got)
	}
}
