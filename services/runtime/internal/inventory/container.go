// Package inventory keeps the runtime inventory: which image digests run in which containers, where,
// and in which release stage. Sources (the Docker Engine API, the Kubernetes API, Dynatrace entities)
// are polled; a container counts as running while it was seen running within the maximum age
// (RUNTIME_MAX_AGE, 3h by default, the tutorial's entity window), so a stopped container ages out.
package inventory

import (
	"context"
	"regexp"
	"strings"
	"time"
)

// Container is one container a source saw running.
type Container struct {
	// Source is "docker", "kubernetes" or "dynatrace".
	Source string
	// ID identifies the container within its source (container id, pod uid/container, entity id).
	ID string
	// Name is the container name (pod/container for Kubernetes).
	Name      string
	Workload  string
	Namespace string
	Host      string
	// State is the state the source reported, e.g. "running".
	State string
	// Stage is the release stage, "" when unknown.
	Stage   string
	Product string
	// ImageName and ImageDigest are what the runtime reports for the image.
	ImageName   string
	ImageDigest string
	// Digests are every digest the container can be matched on (repository digests, the platform
	// manifest digest, the config digest), ImageDigest first.
	Digests []string
	// LastSeen is when the source last saw it running.
	LastSeen time.Time
}

// Key identifies a container across polls.
func (c Container) Key() string { return c.Source + "/" + c.ID }

// Source is one inventory source. Poll returns the containers running now.
type Source interface {
	Name() string
	Poll(ctx context.Context) ([]Container, error)
}

var digestRE = regexp.MustCompile(`sha256:[0-9a-f]{64}`)

// ParseDigest takes the digest out of the forms runtimes report: "sha256:…",
// "docker.io/library/nginx@sha256:…", "docker-pullable://nginx@sha256:…", "docker://sha256:…".
// It returns "" when there is none.
func ParseDigest(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	if i := strings.LastIndex(s, "@"); i >= 0 {
		s = s[i+1:]
	}
	return digestRE.FindString(s)
}

// addDigest appends d to ds when it is a digest not already there.
func addDigest(ds []string, d string) []string {
	d = ParseDigest(d)
	if d == "" {
		return ds
	}
	for _, x := range ds {
		if x == d {
			return ds
		}
	}
	return append(ds, d)
}
