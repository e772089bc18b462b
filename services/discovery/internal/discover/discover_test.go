package discover_test

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/scoutbridge/scoutbridge/pkg/config"
	"github.com/scoutbridge/scoutbridge/pkg/retry"
	"github.com/scoutbridge/scoutbridge/services/discovery/internal/discover"
	"github.com/scoutbridge/scoutbridge/services/discovery/internal/hub"
	fakehub "github.com/scoutbridge/scoutbridge/tools/fakehub/hub"
)

var t0 = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

type env struct {
	fake *fakehub.Hub
	d    *discover.Discoverer
	logs *bytes.Buffer
}

func newEnv(t *testing.T, pushes ...fakehub.Push) *env {
	t.Helper()
	fake := fakehub.New(fakehub.Options{Username: "bob", Token: "tok"})
	if err := fake.Push(pushes...); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	logs := &bytes.Buffer{}
	log := slog.New(slog.NewJSONHandler(logs, nil))
	client := hub.New(hub.Config{BaseURL: srv.URL, Username: "bob", Token: config.NewSecret("tok"), Logger: log,
		Backoff: retry.Backoff{Initial: time.Millisecond, Max: 5 * time.Millisecond}, MaxAttempts: 3})
	return &env{fake: fake, logs: logs, d: &discover.Discoverer{Hub: client, Logger: log, Now: func() time.Time { return t0.Add(24 * time.Hour) }}}
}

func (e *env) run(t *testing.T, q discover.Query) ([]discover.Image, []discover.NamespaceError) {
	t.Helper()
	var images []discover.Image
	var nsErrs []discover.NamespaceError
	err := e.d.Discover(t.Context(), q, func(en discover.Entry) error {
		if en.Image != nil {
			images = append(images, *en.Image)
		} else {
			nsErrs = append(nsErrs, *en.NamespaceError)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Discover: %v", err)
	}
	return images, nsErrs
}

func names(images []discover.Image) string {
	var out []string
	for _, im := range images {
		out = append(out, im.Repository+":"+strings.Join(im.Tags, ","))
	}
	return strings.Join(out, " ")
}

func TestOneImagePerDigest(t *testing.T) {
	e := newEnv(t,
		fakehub.Push{Namespace: "acme", Repository: "api", Tags: []string{"1.5.0", "1.5", "latest"}, PushedAt: t0, Platforms: []string{"linux/arm64/v8", "linux/amd64"}, Attestations: true},
		fakehub.Push{Namespace: "acme", Repository: "api", Tags: []string{"1.4.0"}, PushedAt: t0.Add(-time.Hour), Platforms: []string{"linux/amd64"}},
	)
	images, _ := e.run(t, discover.Query{Namespaces: []string{"acme"}, After: t0.Add(-2 * time.Hour)})
	if len(images) != 2 {
		t.Fatalf("images: %s; want 2 (one per digest)", names(images))
	}
	multi := images[0]
	if strings.Join(multi.Tags, ",") != "1.5,1.5.0,latest" || multi.Registry != "docker.io" || multi.Repository != "acme/api" {
		t.Errorf("multi-arch image: %+v", multi)
	}
	if multi.MediaType != fakehub.MediaTypeOCIIndex || !multi.PushedAt.Equal(t0) {
		t.Errorf("media type %s pushed_at %s", multi.MediaType, multi.PushedAt)
	}
	if len(multi.Platforms) != 2 || multi.Platforms[0].Architecture != "amd64" || multi.Platforms[1].Variant != "v8" {
		t.Fatalf("platforms %+v: want amd64 and arm64/v8, no attestation entries", multi.Platforms)
	}
	for _, p := range multi.Platforms {
		if p.Digest == multi.Digest || !strings.HasPrefix(p.Digest, "sha256:") {
			t.Errorf("platform %+v should carry its own digest, not the index digest", p)
		}
	}
	single := images[1]
	if len(single.Platforms) != 1 || single.Platforms[0].Digest != single.Digest || single.MediaType != fakehub.MediaTypeImage {
		t.Errorf("single-arch image %+v", single)
	}
}

func TestWindowEdges(t *testing.T) {
	after, before := t0, t0.Add(time.Hour)
	e := newEnv(t,
		fakehub.Push{Namespace: "acme", Repository: "api", Tags: []string{"at-start"}, PushedAt: after},
		fakehub.Push{Namespace: "acme", Repository: "api", Tags: []string{"just-before-start"}, PushedAt: after.Add(-time.Second)},
		fakehub.Push{Namespace: "acme", Repository: "api", Tags: []string{"at-end"}, PushedAt: before},
		fakehub.Push{Namespace: "acme", Repository: "api", Tags: []string{"just-before-end"}, PushedAt: before.Add(-time.Second)},
	)
	images, _ := e.run(t, discover.Query{Namespaces: []string{"acme"}, After: after, Before: before})
	if got := names(images); got != "acme/api:just-before-end acme/api:at-start" {
		t.Errorf("got %q; want the start inclusive and the end exclusive", got)
	}
}

func TestTagsWithoutDigestsAndInactiveTags(t *testing.T) {
	e := newEnv(t,
		fakehub.Push{Namespace: "acme", Repository: "old", Tags: []string{"single"}, PushedAt: t0, OmitDigest: true},
		fakehub.Push{Namespace: "acme", Repository: "old", Tags: []string{"multi"}, PushedAt: t0, OmitDigest: true, Platforms: []string{"linux/amd64", "linux/arm64"}},
		fakehub.Push{Namespace: "acme", Repository: "old", Tags: []string{"gone"}, PushedAt: t0, Inactive: true},
	)
	images, _ := e.run(t, discover.Query{Namespaces: []string{"acme"}, After: t0})
	if got := names(images); got != "acme/old:single" {
		t.Fatalf("got %q; want only the single-arch tag (its image digest stands in)", got)
	}
	if images[0].Digest == "" || images[0].Digest != images[0].Platforms[0].Digest {
		t.Errorf("digest %q platforms %+v", images[0].Digest, images[0].Platforms)
	}
	if !strings.Contains(e.logs.String(), `"tag":"multi"`) || !strings.Contains(e.logs.String(), "no digest") {
		t.Errorf("the skipped tag should be logged: %s", e.logs.String())
	}
}

func TestInactiveRepositoriesAreSkipped(t *testing.T) {
	e := newEnv(t,
		fakehub.Push{Namespace: "acme", Repository: "api", Tags: []string{"v1"}, PushedAt: t0},
		fakehub.Push{Namespace: "acme", Repository: "dormant", Tags: []string{"v1"}, PushedAt: t0.Add(time.Minute), InactiveRepository: true},
	)
	images, _ := e.run(t, discover.Query{Namespaces: []string{"acme"}, After: t0})
	if got := names(images); got != "acme/api:v1" {
		t.Errorf("got %q; want only the active repository", got)
	}
	if calls := e.fake.Calls(); calls.Paths["tags"] != 1 {
		t.Errorf("calls %v: the tags of an inactive repository should not even be listed", calls.Paths)
	}
}

func TestPatterns(t *testing.T) {
	var pushes []fakehub.Push
	for _, repo := range []string{"api", "api-admin", "web", "worker"} {
		pushes = append(pushes, fakehub.Push{Namespace: "acme", Repository: repo, Tags: []string{"v1", "latest", "dev-1"}, PushedAt: t0})
	}
	tests := []struct {
		name string
		q    discover.Query
		want string
	}{
		{"repository glob", discover.Query{Repositories: []string{"api*"}, Tags: []string{"v1"}}, "acme/api:v1 acme/api-admin:v1"},
		{"namespace/repository glob", discover.Query{Repositories: []string{"acme/w*"}, Tags: []string{"v1"}}, "acme/web:v1 acme/worker:v1"},
		{"exclusions", discover.Query{ExcludeRepositories: []string{"acme/api*", "worker"}, ExcludeTags: []string{"dev-*", "latest"}}, "acme/web:v1"},
		{"glob of another namespace matches nothing", discover.Query{Repositories: []string{"other/*"}}, ""},
	}
	e := newEnv(t, pushes...)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.q.Namespaces = []string{"acme"}
			tt.q.After = t0
			images, _ := e.run(t, tt.q)
			if got := names(images); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestListsOnlyWhatChanged(t *testing.T) {
	var pushes []fakehub.Push
	for i := range 300 {
		pushes = append(pushes, fakehub.Push{Namespace: "acme", Repository: fmt.Sprintf("old-%03d", i), Tags: []string{"v1"}, PushedAt: t0.Add(-time.Duration(i+1) * time.Hour)})
	}
	for i := range 5 {
		pushes = append(pushes, fakehub.Push{Namespace: "acme", Repository: fmt.Sprintf("new-%d", i), Tags: []string{"v2"}, PushedAt: t0.Add(time.Duration(i) * time.Minute)})
	}
	e := newEnv(t, pushes...)
	images, _ := e.run(t, discover.Query{Namespaces: []string{"acme"}, After: t0})
	if len(images) != 5 {
		t.Fatalf("got %s; want the 5 new images", names(images))
	}
	calls := e.fake.Calls()
	if calls.Paths["repositories"] != 1 || calls.Paths["tags"] != 5 {
		t.Errorf("calls %v: want 1 repository page and the tags of the 5 changed repositories", calls.Paths)
	}
}

func TestFailingNamespaceDoesNotStopTheOthers(t *testing.T) {
	e := newEnv(t,
		fakehub.Push{Namespace: "acme", Repository: "api", Tags: []string{"v1"}, PushedAt: t0},
		fakehub.Push{Namespace: "broken", Repository: "api", Tags: []string{"v1"}, PushedAt: t0},
		fakehub.Push{Namespace: "secret", Repository: "api", Tags: []string{"v1"}, PushedAt: t0},
		fakehub.Push{Namespace: "zeta", Repository: "api", Tags: []string{"v1"}, PushedAt: t0},
	)
	e.fake.SetFaults(fakehub.Faults{FailNamespaces: map[string]bool{"broken": true}, Forbidden: map[string]bool{"secret": true}})
	images, nsErrs := e.run(t, discover.Query{Namespaces: []string{"acme", "broken", "secret", "zeta", "nobody"}, After: t0})
	if got := names(images); got != "acme/api:v1 zeta/api:v1" {
		t.Errorf("images %q", got)
	}
	want := map[string]error{"broken": discover.ErrUnavailable, "secret": discover.ErrPermissionDenied, "nobody": discover.ErrNotFound}
	if len(nsErrs) != len(want) {
		t.Fatalf("namespace errors %+v", nsErrs)
	}
	for _, ne := range nsErrs {
		if !errors.Is(ne.Err, want[ne.Namespace]) || !strings.Contains(ne.Err.Error(), ne.Namespace) {
			t.Errorf("%s: %v, want %v naming the namespace", ne.Namespace, ne.Err, want[ne.Namespace])
		}
	}
}

func TestScopeFallsBackToSettingsThenOrganizations(t *testing.T) {
	e := newEnv(t,
		fakehub.Push{Namespace: "acme", Repository: "api", Tags: []string{"v1"}, PushedAt: t0},
		fakehub.Push{Namespace: "beta", Repository: "web", Tags: []string{"v1"}, PushedAt: t0},
	)
	images, _ := e.run(t, discover.Query{After: t0})
	if got := names(images); got != "acme/api:v1 beta/web:v1" {
		t.Errorf("organizations of the user: %q", got)
	}
	e.d.Namespaces = []string{"beta"}
	images, _ = e.run(t, discover.Query{After: t0})
	if got := names(images); got != "beta/web:v1" {
		t.Errorf("DISCOVERY_NAMESPACES: %q", got)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		q       discover.Query
		wantErr string
	}{
		{"empty query is fine", discover.Query{}, ""},
		{"equal bounds are an empty window", discover.Query{After: t0, Before: t0}, ""},
		{"start after end", discover.Query{After: t0.Add(time.Second), Before: t0}, "pushed_after (2026-11-20T12:00:01Z) is after pushed_before"},
		{"malformed repository glob", discover.Query{Repositories: []string{"api-["}}, `repository_patterns: "api-[" is a malformed glob`},
		{"too many slashes", discover.Query{ExcludeRepositories: []string{"a/b/c"}}, `exclude_repository_patterns: "a/b/c"`},
		{"malformed tag glob", discover.Query{Tags: []string{"v[1"}}, `tag_patterns: "v[1"`},
		{"bad namespace", discover.Query{Namespaces: []string{"../etc"}}, `namespace "../etc"`},
		{"every problem at once, on one line", discover.Query{After: t0.Add(time.Second), Before: t0, Tags: []string{"v[1"}},
			`is after pushed_before (2026-11-20T12:00:00Z); tag_patterns: "v[1"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.q.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected %v", err)
				}
				return
			}
			if !errors.Is(err, discover.ErrInvalid) || !strings.Contains(err.Error(), tt.wantErr) || strings.Contains(err.Error(), "\n") {
				t.Errorf("err = %v, want ErrInvalid containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestRandomServerErrorsLoseNothing(t *testing.T) {
	var pushes []fakehub.Push
	for i := range 30 {
		pushes = append(pushes, fakehub.Push{Namespace: "acme", Repository: fmt.Sprintf("repo-%02d", i), Tags: []string{"v1", "latest"}, PushedAt: t0.Add(time.Duration(i) * time.Minute)})
	}
	fake := fakehub.New(fakehub.Options{Seed: 3, Faults: fakehub.Faults{ErrorRatio: 0.3}})
	if err := fake.Push(pushes...); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	client := hub.New(hub.Config{BaseURL: srv.URL, PageSize: 10, MaxAttempts: 8,
		Backoff: retry.Backoff{Initial: time.Millisecond, Max: 5 * time.Millisecond, Jitter: 0.5}})
	d := &discover.Discoverer{Hub: client, Now: func() time.Time { return t0.Add(24 * time.Hour) }}
	var images int
	err := d.Discover(t.Context(), discover.Query{Namespaces: []string{"acme"}, After: t0}, func(e discover.Entry) error {
		if e.NamespaceError != nil {
			t.Errorf("namespace error %v", e.NamespaceError.Err)
		} else {
			images++
		}
		return nil
	})
	if err != nil || images != 30 {
		t.Fatalf("%d images, %v; want all 30 despite 30 %% of answers being 503", images, err)
	}
	if c := fake.Calls(); c.Failed == 0 {
		t.Errorf("calls %+v: the stand-in injected no failure, the test proves nothing", c)
	}
}
