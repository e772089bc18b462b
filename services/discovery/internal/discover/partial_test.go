package discover_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/scoutbridge/scoutbridge/services/discovery/internal/discover"
)

// memHub is an in-memory discover.Hub whose tag listings fail for chosen repositories.
type memHub struct {
	repos    []string
	failTags map[string]error
	listed   []string
	// tags, when set, are the tag names every repository lists (all on one digest); default "v1".
	tags []string
}

func (m *memHub) Organizations(context.Context) ([]string, error) { return []string{"acme"}, nil }

func (m *memHub) Repositories(_ context.Context, ns string, fn func(discover.Repository) bool) error {
	for _, r := range m.repos {
		if !fn(discover.Repository{Namespace: ns, Name: r, Active: true, LastUpdated: t0}) {
			return nil
		}
	}
	return nil
}

func (m *memHub) Tags(_ context.Context, ns, repo string, fn func(discover.Tag)) error {
	m.listed = append(m.listed, repo)
	if err := m.failTags[repo]; err != nil {
		return err
	}
	tags := m.tags
	if tags == nil {
		tags = []string{"v1"}
	}
	for _, name := range tags {
		fn(discover.Tag{Name: name, Active: true, PushedAt: t0, Digest: "sha256:" + repo,
			Images: []discover.PlatformImage{{OS: "linux", Architecture: "amd64", Digest: "sha256:" + repo}}})
	}
	return nil
}

func TestRepositoryFailures(t *testing.T) {
	unavailable := fmt.Errorf("GET tags: %w", discover.ErrUnavailable)
	tests := []struct {
		name       string
		fail       map[string]error
		wantImages string
		wantListed int
		wantErr    string
	}{
		{"one failing repository: the others are still sent", map[string]error{"b": unavailable},
			"acme/a acme/c acme/d acme/e", 5, "list tags of acme/b: GET tags: docker hub unavailable (1 of 5 changed repositories failed)"},
		{"three failures end the namespace", map[string]error{"a": unavailable, "b": unavailable, "c": unavailable},
			"", 3, "(3 of 5 changed repositories failed)"},
		{"a 403 ends the namespace at once", map[string]error{"a": fmt.Errorf("GET: %w", discover.ErrPermissionDenied)},
			"", 1, "docker hub denied access"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := &memHub{repos: []string{"a", "b", "c", "d", "e"}, failTags: tt.fail}
			d := &discover.Discoverer{Hub: m, Now: func() time.Time { return t0.Add(time.Hour) }}
			var images []string
			var nsErr *discover.NamespaceError
			err := d.Discover(t.Context(), discover.Query{Namespaces: []string{"acme"}}, func(e discover.Entry) error {
				if e.Image != nil {
					images = append(images, e.Image.Repository)
				} else {
					nsErr = e.NamespaceError
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(images, " "); got != tt.wantImages || len(m.listed) != tt.wantListed {
				t.Errorf("images %q after listing %v; want %q after %d", got, m.listed, tt.wantImages, tt.wantListed)
			}
			if nsErr == nil || nsErr.Namespace != "acme" || !strings.Contains(nsErr.Err.Error(), tt.wantErr) {
				t.Errorf("namespace error %+v, want one containing %q", nsErr, tt.wantErr)
			}
		})
	}
}

func TestAStreamThatFailsEndsDiscovery(t *testing.T) {
	m := &memHub{repos: []string{"a", "b", "c"}}
	d := &discover.Discoverer{Hub: m, Now: func() time.Time { return t0.Add(time.Hour) }}
	gone := errors.New("client gone")
	err := d.Discover(t.Context(), discover.Query{Namespaces: []string{"acme", "beta"}}, func(discover.Entry) error { return gone })
	if !errors.Is(err, gone) || len(m.listed) != 1 {
		t.Errorf("err %v after listing %v; want the stream's error after the first repository", err, m.listed)
	}
}

func TestARepositoryListedTwiceIsDiscoveredOnce(t *testing.T) {
	// Docker Hub pages shift when a push lands during the walk: the same repository can appear on two pages.
	m := &memHub{repos: []string{"a", "b", "b", "c"}}
	d := &discover.Discoverer{Hub: m, Now: func() time.Time { return t0.Add(time.Hour) }}
	var images []string
	err := d.Discover(t.Context(), discover.Query{Namespaces: []string{"acme"}}, func(e discover.Entry) error {
		images = append(images, e.Image.Repository)
		return nil
	})
	if got := strings.Join(images, " "); err != nil || got != "acme/a acme/b acme/c" {
		t.Errorf("images %q, %v; want each repository once", got, err)
	}
}

func TestATagListedTwiceIsReportedOnce(t *testing.T) {
	// A push during the walk shifts tag pages as well: the same tag can come on two pages.
	m := &memHub{repos: []string{"a"}, tags: []string{"latest", "v1", "latest"}}
	d := &discover.Discoverer{Hub: m, Now: func() time.Time { return t0.Add(time.Hour) }}
	var tags []string
	err := d.Discover(t.Context(), discover.Query{Namespaces: []string{"acme"}}, func(e discover.Entry) error {
		tags = append(tags, e.Image.Tags...)
		return nil
	})
	if got := strings.Join(tags, ","); err != nil || got != "latest,v1" {
		t.Errorf("tags %q, %v; want latest,v1", got, err)
	}
}
