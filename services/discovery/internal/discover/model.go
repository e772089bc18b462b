// Package discover decides which images were pushed to Docker Hub namespaces inside a time window.
//
// It owns the domain: the window [After, Before), repository and tag globs, one Image per digest with
// all its tags, and the cheap walk (repositories newest first, stop at the window's edge, list tags
// only of repositories updated inside it, one repository's tags in memory at a time). It talks to
// Docker Hub through the Hub port below; internal/hub is the HTTP adapter. It knows nothing of gRPC.
package discover

import (
	"context"
	"errors"
	"time"
)

// Repository is one repository as a listing shows it.
type Repository struct {
	Namespace string
	Name      string
	// Active is Docker Hub's status == 1.
	Active bool
	// LastUpdated is zero when the repository was never pushed to.
	LastUpdated time.Time
}

// Tag is one tag of a repository.
type Tag struct {
	Name string
	// Active is tag_status == "active".
	Active bool
	// PushedAt is tag_last_pushed.
	PushedAt  time.Time
	MediaType string
	// Digest is the index digest of a multi-arch tag, the image digest of a single-arch tag; may be empty.
	Digest string
	Images []PlatformImage
}

// PlatformImage is one entry of a tag's images array.
type PlatformImage struct {
	OS, Architecture, Variant string
	Digest                    string
}

// Image is what discovery reports: one digest of one repository with every tag pointing at it.
type Image struct {
	Registry   string
	Repository string // "namespace/name"
	Digest     string
	Tags       []string
	MediaType  string
	Platforms  []PlatformImage
	PushedAt   time.Time
}

// Hub is the port to Docker Hub that discovery needs. internal/hub implements it over HTTP.
type Hub interface {
	// Organizations lists the namespaces of the authenticated user.
	Organizations(ctx context.Context) ([]string, error)
	// Repositories calls fn for the namespace's repositories, most recently updated first, until fn
	// returns false or the list ends. A repository updated during the walk may come twice, at the end.
	Repositories(ctx context.Context, namespace string, fn func(Repository) bool) error
	// Tags calls fn for every tag of one repository.
	Tags(ctx context.Context, namespace, repository string, fn func(Tag)) error
}

// Errors the Hub adapter wraps so that callers can tell failures apart. The server maps them to codes.
var (
	ErrInvalid          = errors.New("invalid request")
	ErrUnauthenticated  = errors.New("docker hub rejected the credentials")
	ErrPermissionDenied = errors.New("docker hub denied access")
	ErrNotFound         = errors.New("not found on docker hub")
	ErrRateLimited      = errors.New("docker hub rate limit reached")
	ErrUnavailable      = errors.New("docker hub unavailable")
	ErrNoNamespaces     = errors.New("no namespaces to discover")
)
