package hub_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scoutbridge/scoutbridge/pkg/config"
	"github.com/scoutbridge/scoutbridge/pkg/retry"
	"github.com/scoutbridge/scoutbridge/pkg/testutil"
	"github.com/scoutbridge/scoutbridge/services/discovery/internal/discover"
	"github.com/scoutbridge/scoutbridge/services/discovery/internal/hub"
	fakehub "github.com/scoutbridge/scoutbridge/tools/fakehub/hub"
)

const secret = "dckr_pat_s3cr3t-value"

var fast = retry.Backoff{Initial: 2 * time.Millisecond, Max: 20 * time.Millisecond, Multiplier: 2, Jitter: 0.2}

// stand is the stand-in behind a real HTTP server, with the hosts each request was sent to.
type stand struct {
	hub   *fakehub.Hub
	srv   *httptest.Server
	mu    sync.Mutex
	hosts []string
	hook  func(r *http.Request)
}

func newStand(t *testing.T, opts fakehub.Options) *stand {
	t.Helper()
	s := &stand{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.hosts = append(s.hosts, r.Host)
		hook := s.hook
		s.mu.Unlock()
		if hook != nil {
			hook(r)
		}
		s.hub.ServeHTTP(w, r)
	}))
	t.Cleanup(s.srv.Close)
	s.hub = fakehub.New(opts)
	return s
}

// otherHost is the server's URL with "localhost" for 127.0.0.1: another host name, same server.
func (s *stand) otherHost() string { return strings.Replace(s.srv.URL, "127.0.0.1", "localhost", 1) }

func (s *stand) client(logs *bytes.Buffer) *hub.Client {
	var log *slog.Logger
	if logs != nil {
		log = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return hub.New(hub.Config{BaseURL: s.srv.URL, Username: "bob", Token: config.NewSecret(secret), Backoff: fast, Logger: log})
}

func pushRepos(t *testing.T, h *fakehub.Hub, ns string, n int, at time.Time) {
	t.Helper()
	for i := range n {
		if err := h.Push(fakehub.Push{Namespace: ns, Repository: fmt.Sprintf("repo-%03d", i), Tags: []string{"v1"}, PushedAt: at.Add(-time.Duration(i) * time.Minute)}); err != nil {
			t.Fatal(err)
		}
	}
}

func listAll(ctx context.Context, c *hub.Client, ns string) ([]string, error) {
	var names []string
	err := c.Repositories(ctx, ns, func(r discover.Repository) bool {
		names = append(names, r.Name)
		return true
	})
	return names, err
}

// viaStand is an HTTP client that connects every host name to the stand-in, as DNS would in production.
func (s *stand) viaStand() *http.Client {
	return &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, s.srv.Listener.Addr().String())
	}}}
}

func TestPagingFollowsNextToAnotherHost(t *testing.T) {
	// The API is hub.fake.test; the stand-in's next links name registry.hub.fake.test, as Docker Hub's
	// name registry.hub.docker.com. Private repositories show that the token follows (same parent domain).
	s := newStand(t, fakehub.Options{})
	port := s.srv.Listener.Addr().(*net.TCPAddr).Port
	s.hub = fakehub.New(fakehub.Options{Username: "bob", Token: secret, PublicURL: fmt.Sprintf("http://registry.hub.fake.test:%d", port)})
	for i := range 250 {
		if err := s.hub.Push(fakehub.Push{Namespace: "acme", Repository: fmt.Sprintf("repo-%03d", i), Tags: []string{"v1"}, Private: true, PushedAt: time.Now().Add(-time.Duration(i) * time.Minute)}); err != nil {
			t.Fatal(err)
		}
	}
	c := hub.New(hub.Config{BaseURL: fmt.Sprintf("http://hub.fake.test:%d", port), Username: "bob", Token: config.NewSecret(secret), Backoff: fast, HTTPClient: s.viaStand()})

	names, err := listAll(t.Context(), c, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != 250 || names[0] != "repo-000" || names[249] != "repo-249" {
		t.Fatalf("got %d repositories, first %v: want 250, newest first", len(names), names[:min(1, len(names))])
	}
	var onOther int
	for _, h := range s.hosts {
		if h == fmt.Sprintf("registry.hub.fake.test:%d", port) {
			onOther++
		}
	}
	if onOther != 2 {
		t.Errorf("pages 2 and 3 should go to the next URL's host; hosts: %v", s.hosts)
	}
}

func TestTheTokenIsNotSentToAForeignNextHost(t *testing.T) {
	// The API is localhost; the next links name 127.0.0.1: another host, not under the API's domain.
	s := newStand(t, fakehub.Options{})
	s.hub = fakehub.New(fakehub.Options{PublicURL: s.srv.URL})
	pushRepos(t, s.hub, "acme", 150, time.Now())
	var withToken []string
	s.hook = func(r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			withToken = append(withToken, r.Host)
		}
	}
	var logs bytes.Buffer
	c := hub.New(hub.Config{BaseURL: s.otherHost(), Username: "bob", Token: config.NewSecret(secret), Backoff: fast,
		Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	_, err := listAll(t.Context(), c, "acme")
	if err == nil || !strings.Contains(err.Error(), "the token is not sent there") || !strings.Contains(err.Error(), s.srv.Listener.Addr().String()) {
		t.Fatalf("err = %v; want a refusal naming the foreign host", err)
	}
	u, _ := url.Parse(s.otherHost())
	for _, h := range withToken {
		if h != u.Host {
			t.Errorf("the token went to %s; hosts with a token: %v", h, withToken)
		}
	}
	if strings.Contains(err.Error(), secret) || strings.Contains(logs.String(), secret) {
		t.Error("the token leaked")
	}
	// Anonymous, there is nothing to protect: the link is followed.
	names, err := listAll(t.Context(), hub.New(hub.Config{BaseURL: s.otherHost(), Backoff: fast}), "acme")
	if err != nil || len(names) != 150 {
		t.Errorf("anonymous: %d repositories, %v; want 150", len(names), err)
	}
}

func TestAnUnreadableItemIsSkippedAndTheRestKept(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"count":3,"next":null,"results":[
			{"name":"a","tag_status":"active","tag_last_pushed":"2026-11-20T10:00:00.1Z","digest":"sha256:aa","images":[]},
			{"name":"b","tag_status":"active","tag_last_pushed":"yesterday","digest":"sha256:bb","images":[]},
			{"name":"c","tag_status":"active","tag_last_pushed":"2026-11-20T10:00:00Z","digest":"sha256:cc","images":[]}]}`)
	}))
	defer srv.Close()
	var logs bytes.Buffer
	c := hub.New(hub.Config{BaseURL: srv.URL, Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	var got []string
	if err := c.Tags(t.Context(), "acme", "api", func(tag discover.Tag) { got = append(got, tag.Name) }); err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != "a,c" {
		t.Errorf("tags %v, want a and c", got)
	}
	if !strings.Contains(logs.String(), "unreadable; skipped") || !strings.Contains(logs.String(), "yesterday") {
		t.Errorf("the skipped item should be logged with its problem: %s", logs.String())
	}
}

func TestPastTheLastPageIs404AndEndsTheList(t *testing.T) {
	// A hub that announces a next page that no longer exists (repositories deleted meanwhile).
	s := newStand(t, fakehub.Options{})
	pushRepos(t, s.hub, "acme", 100, time.Now())
	s.hook = func(r *http.Request) {
		if r.URL.Query().Get("page") == "" {
			s.hub.Push(fakehub.Push{Namespace: "acme", Repository: "zz-late", Tags: []string{"v1"}, PushedAt: time.Now().Add(-time.Hour * 24 * 365)})
		}
	}
	names, err := listAll(t.Context(), s.client(nil), "acme")
	if err != nil || len(names) != 101 {
		t.Fatalf("got %d, %v", len(names), err)
	}
}

func TestRateLimit429(t *testing.T) {
	tests := []struct {
		name   string
		header string
	}{
		{"Retry-After seconds", "retry-after"},
		{"X-Retry-After unix time", "x-retry-after"},
		{"both headers", "both"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel() // each waits about 2 s
			s := newStand(t, fakehub.Options{})
			pushRepos(t, s.hub, "acme", 3, time.Now())
			// The 429 asks for 2 s (X-Retry-After: now+2 in whole seconds, so 1 to 2 s); the client's own
			// backoff is 2 ms: a retry sooner than 900 ms means the header was ignored.
			s.hub.SetFaults(fakehub.Faults{ThrottleNext: 1, RetryAfter: 2, RetryHeader: tt.header})
			var arrivals []time.Time
			s.hook = func(*http.Request) { arrivals = append(arrivals, time.Now()) }
			anonymous := hub.New(hub.Config{BaseURL: s.srv.URL, Backoff: fast})
			names, err := listAll(t.Context(), anonymous, "acme")
			if err != nil || len(names) != 3 {
				t.Fatalf("got %v, %v; want the 3 repositories after waiting", names, err)
			}
			if c := s.hub.Calls(); c.Throttled != 1 || c.Paths["repositories"] != 2 {
				t.Fatalf("calls %+v: want 1 throttled then 1 answered", c)
			}
			if gap := arrivals[1].Sub(arrivals[0]); gap < 900*time.Millisecond {
				t.Errorf("retried %s after the 429; want the announced wait", gap)
			}
		})
	}
}

func TestRateLimitWaitLongerThanMaxWaitFails(t *testing.T) {
	s := newStand(t, fakehub.Options{})
	pushRepos(t, s.hub, "acme", 1, time.Now())
	s.hub.SetFaults(fakehub.Faults{ThrottleNext: 1, RetryAfter: 3600})
	c := hub.New(hub.Config{BaseURL: s.srv.URL, Backoff: fast, MaxWait: time.Minute})
	_, err := listAll(t.Context(), c, "acme")
	if !errors.Is(err, discover.ErrRateLimited) || !strings.Contains(err.Error(), "1h0m0s") {
		t.Fatalf("err = %v, want ErrRateLimited naming the wait", err)
	}
}

func TestSlowsDownWhenTheBudgetRunsOut(t *testing.T) {
	for _, limit := range []string{"180", ""} {
		t.Run("X-RateLimit-Limit="+limit, func(t *testing.T) {
			var mu sync.Mutex
			var arrivals []time.Time
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				arrivals = append(arrivals, time.Now())
				mu.Unlock()
				if limit != "" {
					w.Header().Set("X-RateLimit-Limit", limit)
				}
				w.Header().Set("X-RateLimit-Remaining", "0")
				w.Header().Set("X-RateLimit-Reset", fmt.Sprint(time.Now().Add(1500*time.Millisecond).Unix()))
				w.Write([]byte(`{"count":0,"next":null,"results":[]}`))
			}))
			defer srv.Close()
			c := hub.New(hub.Config{BaseURL: srv.URL})
			for range 2 {
				if _, err := listAll(t.Context(), c, "acme"); err != nil {
					t.Fatal(err)
				}
			}
			if gap := arrivals[1].Sub(arrivals[0]); gap < 400*time.Millisecond {
				t.Errorf("second request %s after the first although Remaining was 0; want a wait for the reset", gap)
			}
		})
	}
}

func TestNoWaitAfterTheLastAttempt(t *testing.T) {
	s := newStand(t, fakehub.Options{})
	s.hub.SetFaults(fakehub.Faults{FailNext: 100})
	second := retry.Backoff{Initial: time.Second, Max: time.Second}
	c := hub.New(hub.Config{BaseURL: s.srv.URL, Backoff: second, MaxAttempts: 2})
	start := time.Now()
	_, err := listAll(t.Context(), c, "acme")
	if !errors.Is(err, discover.ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
	// Two attempts, one backoff of 1 s between them; a backoff after the last attempt delays the
	// failure (and the namespace_error the caller sees) for nothing.
	if took := time.Since(start); took > 1800*time.Millisecond {
		t.Errorf("failed after %s; want about 1 s (no wait after the last attempt)", took.Round(time.Millisecond))
	}
}

func TestALoginLastsItsLifetimeWhateverThisHostsClock(t *testing.T) {
	// This host's clock runs 15 minutes ahead of Docker Hub's: the JWT's exp (hub time + 10 min) is in
	// this host's past, yet the token is good for 10 minutes and must not be fetched again per call.
	hubNow := time.Now()
	s := newStand(t, fakehub.Options{Username: "bob", Token: secret, Now: func() time.Time { return hubNow }})
	pushRepos(t, s.hub, "acme", 1, hubNow)
	c := hub.New(hub.Config{BaseURL: s.srv.URL, Username: "bob", Token: config.NewSecret(secret), Backoff: fast,
		Now: func() time.Time { return hubNow.Add(15 * time.Minute) }})
	for range 3 {
		if _, err := listAll(t.Context(), c, "acme"); err != nil {
			t.Fatal(err)
		}
	}
	if got := s.hub.Calls().Paths["auth_token"]; got != 1 {
		t.Errorf("%d logins for 3 listings within the token's lifetime; want 1", got)
	}
}

func TestARepositoryPushedDuringTheWalkIsNotLost(t *testing.T) {
	// Pages are numbered and ordered by -last_updated: a push while page 2 is read moves repo-150 to
	// the front, so page 2 starts one repository earlier and repo-150 falls between the pages.
	s := newStand(t, fakehub.Options{})
	pushRepos(t, s.hub, "acme", 250, time.Now().Add(-time.Hour))
	var once sync.Once
	s.hook = func(r *http.Request) {
		if r.URL.Query().Get("page") == "2" {
			once.Do(func() { s.hub.Push(fakehub.Push{Namespace: "acme", Repository: "repo-150", Tags: []string{"v2"}}) })
		}
	}
	names, err := listAll(t.Context(), hub.New(hub.Config{BaseURL: s.srv.URL, Backoff: fast}), "acme")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, n := range names {
		seen[n] = true
	}
	if len(seen) != 250 || !seen["repo-150"] {
		t.Errorf("%d distinct repositories (repo-150 seen: %v); want all 250", len(seen), seen["repo-150"])
	}
	if got := s.hub.Calls().Paths["repositories"]; got != 4 {
		t.Errorf("%d repository pages read; want 3 and the front once more", got)
	}
}

func TestTokenExpiresMidListing(t *testing.T) {
	s := newStand(t, fakehub.Options{Username: "bob", Token: secret})
	pushRepos(t, s.hub, "acme", 250, time.Now())
	var once sync.Once
	s.hook = func(r *http.Request) {
		if r.URL.Query().Get("page") == "2" {
			once.Do(s.hub.ExpireTokens)
		}
	}
	names, err := listAll(t.Context(), s.client(nil), "acme")
	if err != nil || len(names) != 250 {
		t.Fatalf("got %d, %v; want every repository after logging in again", len(names), err)
	}
	c := s.hub.Calls()
	if c.Unauthorized != 1 || c.Paths["auth_token"] != 2 {
		t.Errorf("calls %+v: want one 401 and a second login", c)
	}
}

func TestTokenRefreshedBeforeExpiry(t *testing.T) {
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	s := newStand(t, fakehub.Options{Username: "bob", Token: secret, Now: clock})
	pushRepos(t, s.hub, "acme", 1, now)
	c := hub.New(hub.Config{BaseURL: s.srv.URL, Username: "bob", Token: config.NewSecret(secret), Backoff: fast, Now: clock})
	for _, advance := range []time.Duration{0, 5 * time.Minute, 4*time.Minute + 30*time.Second} {
		mu.Lock()
		now = now.Add(advance)
		mu.Unlock()
		if _, err := listAll(t.Context(), c, "acme"); err != nil {
			t.Fatal(err)
		}
	}
	if got := s.hub.Calls(); got.Unauthorized != 0 || got.Paths["auth_token"] != 2 {
		t.Errorf("calls %+v: want a fresh login at 9m30s and no 401", got)
	}
}

func TestFallsBackToUsersLogin(t *testing.T) {
	s := newStand(t, fakehub.Options{Username: "bob", Token: secret})
	pushRepos(t, s.hub, "acme", 1, time.Now())
	s.hook = func(r *http.Request) {
		if r.URL.Path == "/v2/auth/token" {
			r.URL.Path = "/v2/auth/gone" // as if the new endpoint were missing: 404
		}
	}
	if _, err := s.client(nil).Organizations(t.Context()); err != nil {
		t.Fatal(err)
	}
	if c := s.hub.Calls(); c.Paths["login"] != 1 {
		t.Errorf("calls %+v: want /v2/users/login", c)
	}
}

func TestServerErrorBursts(t *testing.T) {
	s := newStand(t, fakehub.Options{})
	pushRepos(t, s.hub, "acme", 2, time.Now())
	s.hub.SetFaults(fakehub.Faults{FailNext: 3})
	c := hub.New(hub.Config{BaseURL: s.srv.URL, Backoff: fast, MaxAttempts: 5})
	if names, err := listAll(t.Context(), c, "acme"); err != nil || len(names) != 2 {
		t.Fatalf("after a burst of 3: %v, %v", names, err)
	}
	s.hub.ResetCalls()
	s.hub.SetFaults(fakehub.Faults{FailNext: 100})
	_, err := listAll(t.Context(), c, "acme")
	if !errors.Is(err, discover.ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
	if got := s.hub.Calls().Total; got != 5 {
		t.Errorf("%d calls, want MaxAttempts = 5", got)
	}
}

func TestNetworkErrorsAreRetriedThenUnavailable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	base := srv.URL
	srv.Close() // connection refused from now on
	c := hub.New(hub.Config{BaseURL: base, Backoff: fast, MaxAttempts: 3})
	_, err := listAll(t.Context(), c, "acme")
	if !errors.Is(err, discover.ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
}

func TestCancellationStopsAtOnce(t *testing.T) {
	s := newStand(t, fakehub.Options{})
	pushRepos(t, s.hub, "acme", 1, time.Now())
	s.hub.SetFaults(fakehub.Faults{Latency: fakehub.Duration(time.Minute)})
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	_, err := listAll(ctx, s.client(nil), "acme")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if time.Since(start) > 10*time.Second {
		t.Errorf("returned %s after cancel", time.Since(start))
	}
	// And while waiting out a 429.
	s.hub.SetFaults(fakehub.Faults{ThrottleNext: 5, RetryAfter: 60})
	ctx, cancel = context.WithCancel(t.Context())
	time.AfterFunc(100*time.Millisecond, cancel)
	if _, err := listAll(ctx, s.client(nil), "acme"); !errors.Is(err, context.Canceled) {
		t.Fatalf("during a 429 wait: err = %v, want context.Canceled", err)
	}
}

func TestCredentialErrorsNeverCarryTheToken(t *testing.T) {
	s := newStand(t, fakehub.Options{Username: "bob", Token: "another-token"})
	pushRepos(t, s.hub, "acme", 1, time.Now())
	var logs bytes.Buffer
	_, err := listAll(t.Context(), s.client(&logs), "acme")
	if !errors.Is(err, discover.ErrUnauthenticated) {
		t.Fatalf("err = %v, want ErrUnauthenticated", err)
	}
	if strings.Contains(err.Error(), secret) || strings.Contains(logs.String(), secret) {
		t.Errorf("the token leaked: %v / %s", err, logs.String())
	}
	s.hub.SetFaults(fakehub.Faults{Forbidden: map[string]bool{"acme": true}})
	c := hub.New(hub.Config{BaseURL: s.srv.URL, Backoff: fast})
	if _, err := listAll(t.Context(), c, "acme"); !errors.Is(err, discover.ErrPermissionDenied) {
		t.Errorf("403: err = %v, want ErrPermissionDenied", err)
	}
}

func TestAnonymousCannotListOrganizations(t *testing.T) {
	c := hub.New(hub.Config{BaseURL: "http://127.0.0.1:1"})
	if _, err := c.Organizations(t.Context()); !errors.Is(err, discover.ErrNoNamespaces) {
		t.Errorf("err = %v, want ErrNoNamespaces", err)
	}
}

// TestRealTagPagesParse reads the real Docker Hub samples when the shared fixtures are present.
func TestRealTagPagesParse(t *testing.T) {
	dir := filepath.Join(testutil.RepoRoot(t), "..", "shared", "fixtures", "dockerhub")
	page, err := os.ReadFile(filepath.Join(dir, "tags-page_v2-repositories_library-debian_page_size2_2023-06.json"))
	if err != nil {
		t.Skipf("shared fixtures not available: %v", err)
	}
	single, err1 := os.ReadFile(filepath.Join(dir, "tag-object_single-arch-image_2026-03.json"))
	multi, err2 := os.ReadFile(filepath.Join(dir, "tag-object_v2-namespaces_linuxserver-dillinger_latest_2026.json"))
	if err1 != nil || err2 != nil {
		t.Skip("shared fixtures incomplete")
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("page") == "" {
			// The real page's next points at registry.hub.docker.com; keep its shape, point it here.
			w.Write(bytes.Replace(page, []byte("https://registry.hub.docker.com"), []byte("http://"+r.Host), 1))
			return
		}
		fmt.Fprintf(w, `{"count":4,"next":null,"results":[%s,%s]}`, single, multi)
	}))
	defer srv.Close()
	var tags []discover.Tag
	err = hub.New(hub.Config{BaseURL: srv.URL}).Tags(t.Context(), "library", "debian", func(tag discover.Tag) { tags = append(tags, tag) })
	if err != nil {
		t.Fatal(err)
	}
	if len(tags) != 4 {
		t.Fatalf("%d tags, want 4", len(tags))
	}
	first := tags[0]
	if !first.Active || first.Digest != "sha256:2ae17aff4c3c8cdb2d3d9c885d7c59ad518bffc89e8351598ff1f3f918183b7c" || len(first.Images) != 2 ||
		!first.PushedAt.Equal(time.Date(2023, 6, 13, 4, 58, 31, 821511000, time.UTC)) {
		t.Errorf("first tag: %+v", first)
	}
	if tags[2].Images[0].Variant != "" || tags[3].PushedAt.Nanosecond() != 183053000 {
		t.Errorf("fixture tags: %+v %+v", tags[2], tags[3])
	}
}

func TestSpendingTheBudgetSlowsDownInsteadOfGetting429(t *testing.T) {
	// A budget of 3 calls a minute, a clock 1 s before the minute ends, and a listing of 4 pages (and
	// the front once more, see TestARepositoryPushedDuringTheWalkIsNotLost): the client must spread
	// the 5 calls out and wait for X-RateLimit-Reset instead of running into a 429.
	wall := time.Now()
	offset := wall.Truncate(time.Minute).Add(time.Minute - time.Second).Sub(wall)
	clock := func() time.Time { return time.Now().Add(offset) }
	s := newStand(t, fakehub.Options{RateLimit: 3, Now: clock})
	pushRepos(t, s.hub, "acme", 40, time.Now())
	c := hub.New(hub.Config{BaseURL: s.srv.URL, Backoff: fast, PageSize: 10, Now: clock})
	names, err := listAll(t.Context(), c, "acme")
	if err != nil || len(names) != 40 {
		t.Fatalf("got %d repositories, %v; want 40", len(names), err)
	}
	if calls := s.hub.Calls(); calls.Throttled != 0 || calls.Total != 5 {
		t.Errorf("calls %+v: want 5 calls and no 429", calls)
	}
}
