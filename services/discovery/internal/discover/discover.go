package discover

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"
)

// Registry is the registry host of every image discovery reports.
const Registry = "docker.io"

// Entry is one streamed result: an image, or the failure of one namespace.
type Entry struct {
	Image          *Image
	NamespaceError *NamespaceError
}

// NamespaceError is a namespace that could not be listed completely.
type NamespaceError struct {
	Namespace string
	Err       error
}

// Discoverer walks Docker Hub for a Query.
type Discoverer struct {
	Hub Hub
	// Namespaces are used when a query names none (DISCOVERY_NAMESPACES); empty: the user's organizations.
	Namespaces []string
	Logger     *slog.Logger
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
	// MaxFailedRepositories ends a namespace after this many repositories failed (default 3).
	MaxFailedRepositories int
}

// Discover sends every image of the query's window to emit, as found. A namespace that fails becomes a
// NamespaceError entry and the others go on. The returned error is a bad query (ErrInvalid), no
// namespaces to look at, the organization listing failing, cancellation, or emit's own error.
func (d *Discoverer) Discover(ctx context.Context, q Query, emit func(Entry) error) error {
	if err := q.Validate(); err != nil {
		return err
	}
	now := time.Now
	if d.Now != nil {
		now = d.Now
	}
	if q.Before.IsZero() {
		q.Before = now()
	}
	namespaces, err := d.namespaces(ctx, q)
	if err != nil {
		return err
	}
	for _, ns := range namespaces {
		nsErr := d.namespace(ctx, q, ns, emit)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var emitErr *emitError
		if errors.As(nsErr, &emitErr) {
			return emitErr.err
		}
		if nsErr != nil {
			d.logger().WarnContext(ctx, "namespace not listed completely", "namespace", ns, "error", nsErr.Error())
			if err := emit(Entry{NamespaceError: &NamespaceError{Namespace: ns, Err: nsErr}}); err != nil {
				return err
			}
		}
	}
	return nil
}

func (d *Discoverer) logger() *slog.Logger {
	if d.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return d.Logger
}

func (d *Discoverer) namespaces(ctx context.Context, q Query) ([]string, error) {
	list := q.Namespaces
	if len(list) == 0 {
		list = d.Namespaces
	}
	if len(list) == 0 {
		orgs, err := d.Hub.Organizations(ctx)
		if err != nil {
			return nil, fmt.Errorf("list the organizations of the Docker Hub user: %w", err)
		}
		list = orgs
		if len(list) == 0 {
			return nil, fmt.Errorf("%w: the Docker Hub user belongs to no organization; name namespaces in the request or DISCOVERY_NAMESPACES", ErrNoNamespaces)
		}
	}
	out := make([]string, 0, len(list))
	for _, ns := range list {
		ns = strings.ToLower(strings.TrimSpace(ns))
		if ns != "" && !slices.Contains(out, ns) {
			out = append(out, ns)
		}
	}
	return out, nil
}

// emitError marks a failure of the consumer (the stream), which ends the whole discovery.
type emitError struct{ err error }

func (e *emitError) Error() string { return e.err.Error() }

// namespace discovers one namespace: first the names of the repositories updated inside the window
// (only those: memory follows the changes, not the organization), then their tags one repository at a
// time.
func (d *Discoverer) namespace(ctx context.Context, q Query, ns string, emit func(Entry) error) error {
	var changed []string
	seen := map[string]bool{} // a push during the walk shifts the pages: a repository can come twice
	err := d.Hub.Repositories(ctx, ns, func(r Repository) bool {
		if r.LastUpdated.IsZero() {
			return true // never pushed
		}
		if r.LastUpdated.Before(q.After) {
			return false // newest first: everything after this is older than the window
		}
		if r.Active && !seen[r.Name] && q.wantRepository(ns, r.Name) {
			seen[r.Name] = true
			changed = append(changed, r.Name)
		}
		return true
	})
	if err != nil {
		return fmt.Errorf("list repositories of %s: %w", ns, err)
	}
	maxFailed := cmp.Or(d.MaxFailedRepositories, 3)
	var failures []error
	for _, repo := range changed {
		err := d.repository(ctx, q, ns, repo, emit)
		if err == nil {
			continue
		}
		var emitErr *emitError
		if ctx.Err() != nil || errors.As(err, &emitErr) {
			return err
		}
		failures = append(failures, err)
		if errors.Is(err, ErrUnauthenticated) || errors.Is(err, ErrPermissionDenied) || len(failures) >= maxFailed {
			break
		}
	}
	if len(failures) == 0 {
		return nil
	}
	return fmt.Errorf("%w (%d of %d changed repositories failed)", failures[0], len(failures), len(changed))
}

// group is one digest's image being assembled from a repository's tags.
type group struct {
	image    Image
	inWindow bool
}

func (d *Discoverer) repository(ctx context.Context, q Query, ns, repo string, emit func(Entry) error) error {
	full := ns + "/" + repo
	groups := map[string]*group{}
	err := d.Hub.Tags(ctx, ns, repo, func(t Tag) {
		if !t.Active || !q.wantTag(t.Name) {
			return
		}
		digest, platforms := resolve(t)
		if digest == "" {
			d.logger().WarnContext(ctx, "tag has no digest; skipped", "repository", full, "tag", t.Name)
			return
		}
		g := groups[digest]
		if g == nil {
			g = &group{image: Image{Registry: Registry, Repository: full, Digest: digest, MediaType: t.MediaType, Platforms: platforms}}
			groups[digest] = g
		}
		g.image.Tags = append(g.image.Tags, t.Name)
		if q.inWindow(t.PushedAt) {
			g.inWindow = true
			if t.PushedAt.After(g.image.PushedAt) {
				g.image.PushedAt = t.PushedAt
			}
		}
	})
	if err != nil {
		return fmt.Errorf("list tags of %s: %w", full, err)
	}
	images := make([]*Image, 0, len(groups))
	for _, g := range groups {
		if g.inWindow {
			slices.Sort(g.image.Tags)
			g.image.Tags = slices.Compact(g.image.Tags) // a push during the walk shifts tag pages too
			images = append(images, &g.image)
		}
	}
	slices.SortFunc(images, func(a, b *Image) int {
		return cmp.Or(b.PushedAt.Compare(a.PushedAt), strings.Compare(a.Digest, b.Digest))
	})
	for _, img := range images {
		if err := emit(Entry{Image: img}); err != nil {
			return &emitError{err: err}
		}
	}
	return nil
}

// resolve gives a tag's image digest and runnable platforms. A multi-arch tag's digest is its index
// digest; a single-arch tag without a top-level digest uses its one image's digest; attestation
// entries (unknown/unknown) are not platforms.
func resolve(t Tag) (string, []PlatformImage) {
	var platforms []PlatformImage
	for _, img := range t.Images {
		if img.OS == "unknown" || img.Architecture == "unknown" || img.Digest == "" {
			continue
		}
		platforms = append(platforms, img)
	}
	slices.SortFunc(platforms, func(a, b PlatformImage) int {
		return cmp.Or(strings.Compare(a.OS, b.OS), strings.Compare(a.Architecture, b.Architecture), strings.Compare(a.Variant, b.Variant))
	})
	digest := t.Digest
	if digest == "" && len(t.Images) == 1 {
		digest = t.Images[0].Digest
	}
	return digest, platforms
}
