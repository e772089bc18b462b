package hub

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"regexp"
	"sort"
	"strings"
	"time"
)

// Media types the stand-in answers with, as Docker Hub does.
const (
	MediaTypeManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
	MediaTypeOCIIndex     = "application/vnd.oci.image.index.v1+json"
	MediaTypeImage        = "application/vnd.docker.container.image.v1+json"
)

// Push is one image pushed to a repository under one or more tags. It is the unit of the catalog file,
// of POST /_fake/push and of Hub.Push.
type Push struct {
	Namespace  string   `json:"namespace"`
	Repository string   `json:"repository"`
	Tags       []string `json:"tags"`
	// PushedAt is the push time; zero means now.
	PushedAt time.Time `json:"pushed_at,omitzero"`
	// Platforms like "linux/amd64" or "linux/arm/v7". One platform gives a single-arch image; more give
	// a multi-arch index. Empty: linux/amd64.
	Platforms []string `json:"platforms,omitempty"`
	// Attestations adds an unknown/unknown attestation entry per platform to a multi-arch image.
	Attestations bool `json:"attestations,omitempty"`
	// OCI makes a multi-arch image an OCI index instead of a Docker manifest list.
	OCI bool `json:"oci,omitempty"`
	// Digest overrides the digest derived from the names.
	Digest string `json:"digest,omitempty"`
	// OmitDigest leaves the tag-level digest out, as on some old tags.
	OmitDigest bool `json:"omit_digest,omitempty"`
	// Inactive marks the tags inactive.
	Inactive bool `json:"inactive,omitempty"`
	// InactiveRepository marks the whole repository inactive (status 0, as Docker Hub's inactive-image
	// retention does) when this is its newest push; a newer push without it makes it active again.
	InactiveRepository bool `json:"inactive_repository,omitempty"`
	// Private makes the repository private (listed only with a valid token).
	Private bool `json:"private,omitempty"`
}

// Catalog is the content of a -catalog file: a list of pushes applied in order.
type Catalog struct {
	Pushes []Push `json:"pushes"`
}

// Generator describes a synthetic catalog: Namespaces × Repositories × Tags, push times spread over
// Spread before End, drawn from Seed so that runs are reproducible.
type Generator struct {
	Namespaces   int
	Repositories int
	Tags         int
	// TagsPerImage is how many tags share one digest (default 1).
	TagsPerImage int
	Spread       time.Duration
	End          time.Time
	Seed         uint64
	// Prefix names the namespaces: <prefix>0, <prefix>1 ... (default "ns").
	Prefix string
}

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)
var tagRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)

type platform struct{ os, arch, variant string }

func parsePlatform(s string) (platform, error) {
	parts := strings.Split(s, "/")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
		return platform{}, fmt.Errorf("platform %q: want os/arch or os/arch/variant", s)
	}
	p := platform{os: parts[0], arch: parts[1]}
	if len(parts) == 3 {
		p.variant = parts[2]
	}
	return p, nil
}

// namespace, repository and tag are the stored catalog.
type namespace struct {
	name  string
	repos map[string]*repository
}

type repository struct {
	id          int64
	namespace   string
	name        string
	private     bool
	inactive    bool
	created     time.Time
	lastUpdated time.Time
	pushes      int
	tags        map[string]*tag
}

type tag struct {
	id        int64
	name      string
	pushedAt  time.Time
	mediaType string
	digest    string
	omitDig   bool
	inactive  bool
	images    []image
	fracDigit int
}

type image struct {
	p        platform
	digest   string
	size     int64
	pushedAt time.Time
}

// Digest is the stand-in's deterministic digest of a string: "sha256:" + hex(sha256(s)).
func Digest(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "sha256:" + hex.EncodeToString(sum[:])
}

func (p *Push) validate() error {
	var errs []error
	if !nameRE.MatchString(p.Namespace) {
		errs = append(errs, fmt.Errorf("namespace %q: want lowercase letters, digits, '.', '_' or '-'", p.Namespace))
	}
	if !nameRE.MatchString(p.Repository) {
		errs = append(errs, fmt.Errorf("repository %q: want lowercase letters, digits, '.', '_' or '-'", p.Repository))
	}
	if len(p.Tags) == 0 {
		errs = append(errs, errors.New("tags: at least one tag"))
	}
	for _, t := range p.Tags {
		if !tagRE.MatchString(t) {
			errs = append(errs, fmt.Errorf("tag %q is not a valid tag", t))
		}
	}
	for _, pl := range p.Platforms {
		if _, err := parsePlatform(pl); err != nil {
			errs = append(errs, err)
		}
	}
	if p.Digest != "" && !regexp.MustCompile(`^sha256:[0-9a-f]{64}$`).MatchString(p.Digest) {
		errs = append(errs, fmt.Errorf("digest %q: want sha256:<64 hex>", p.Digest))
	}
	return errors.Join(errs...)
}

// apply stores a validated push. The caller holds the lock.
func (h *Hub) apply(p Push, now time.Time) {
	at := p.PushedAt
	if at.IsZero() {
		at = now
	}
	at = at.UTC()
	ns := h.namespaces[p.Namespace]
	if ns == nil {
		ns = &namespace{name: p.Namespace, repos: map[string]*repository{}}
		h.namespaces[p.Namespace] = ns
	}
	repo := ns.repos[p.Repository]
	if repo == nil {
		h.nextID++
		repo = &repository{id: h.nextID, namespace: p.Namespace, name: p.Repository, created: at, tags: map[string]*tag{}}
		ns.repos[p.Repository] = repo
	}
	repo.private = repo.private || p.Private
	repo.pushes++
	if !at.Before(repo.lastUpdated) { // the newest push says whether the repository is active
		repo.lastUpdated = at
		repo.inactive = p.InactiveRepository
	}
	if at.Before(repo.created) {
		repo.created = at
	}
	platforms := p.Platforms
	if len(platforms) == 0 {
		platforms = []string{"linux/amd64"}
	}
	// The digest depends only on names and the repository's push count: reproducible runs, and a tag
	// pushed again gets a new digest.
	key := fmt.Sprintf("%s/%s:%s#%d", p.Namespace, p.Repository, strings.Join(p.Tags, ","), repo.pushes)
	digest := p.Digest
	if digest == "" {
		digest = Digest(key)
	}
	var imgs []image
	mediaType := MediaTypeImage
	if len(platforms) == 1 {
		pl, _ := parsePlatform(platforms[0])
		imgs = []image{{p: pl, digest: digest, size: sizeOf(key), pushedAt: at}}
	} else {
		mediaType = MediaTypeManifestList
		if p.OCI || p.Attestations {
			mediaType = MediaTypeOCIIndex
		}
		for _, s := range platforms {
			pl, _ := parsePlatform(s)
			imgs = append(imgs, image{p: pl, digest: Digest(digest + "/" + s), size: sizeOf(key + s), pushedAt: at.Add(-time.Second)})
		}
		if p.Attestations {
			for _, s := range platforms {
				imgs = append(imgs, image{p: platform{os: "unknown", arch: "unknown"}, digest: Digest(digest + "/attestation/" + s), size: 1024, pushedAt: at.Add(-time.Second)})
			}
		}
	}
	for _, name := range p.Tags {
		h.nextID++
		repo.tags[name] = &tag{
			id: h.nextID, name: name, pushedAt: at, mediaType: mediaType, digest: digest,
			omitDig: p.OmitDigest, inactive: p.Inactive, images: imgs, fracDigit: fracDigits(h.nextID),
		}
	}
}

func sizeOf(key string) int64 {
	sum := sha256.Sum256([]byte(key))
	return 5_000_000 + int64(sum[0])<<20 + int64(sum[1])<<12
}

// fracDigits varies the timestamp precision like the real API, which writes 0 to 9 fractional digits
// (2024-03-20T20:08:27Z, 2023-06-13T04:58:23.89489Z, 2026-08-19T14:17:37.982368528Z): every precision
// appears, 6 and 9 (the most common) twice as often.
func fracDigits(id int64) int {
	return []int{6, 9, 0, 5, 6, 9, 1, 2, 3, 4, 7, 8}[id%12]
}

// formatTime writes t with n fractional digits (truncated, never rounded up).
func formatTime(t time.Time, n int) string {
	t = t.UTC()
	if n == 0 {
		return t.Truncate(time.Second).Format("2006-01-02T15:04:05Z")
	}
	layout := "2006-01-02T15:04:05." + strings.Repeat("0", n) + "Z"
	return t.Format(layout)
}

// Generate returns the pushes of a synthetic catalog.
func Generate(g Generator) []Push {
	if g.Spread <= 0 {
		g.Spread = 30 * 24 * time.Hour
	}
	if g.End.IsZero() {
		g.End = time.Now().UTC()
	}
	if g.TagsPerImage <= 0 {
		g.TagsPerImage = 1
	}
	if g.Prefix == "" {
		g.Prefix = "ns"
	}
	rng := rand.New(rand.NewPCG(g.Seed, 0x5c0b))
	platformSets := [][]string{{"linux/amd64"}, {"linux/amd64", "linux/arm64"}, {"linux/amd64", "linux/arm64", "linux/arm/v7"}}
	var out []Push
	for n := range g.Namespaces {
		ns := fmt.Sprintf("%s%d", g.Prefix, n)
		for r := range g.Repositories {
			repo := fmt.Sprintf("repo-%04d", r)
			var pushes []Push
			for t := 0; t < g.Tags; t += g.TagsPerImage {
				var tags []string
				for k := t; k < min(t+g.TagsPerImage, g.Tags); k++ {
					tags = append(tags, fmt.Sprintf("1.%d.%d", r, k))
				}
				set := platformSets[rng.IntN(len(platformSets))]
				at := g.End.Add(-time.Duration(rng.Int64N(int64(g.Spread))))
				pushes = append(pushes, Push{Namespace: ns, Repository: repo, Tags: tags, PushedAt: at,
					Platforms: set, Attestations: len(set) > 1 && rng.IntN(2) == 0})
			}
			sort.Slice(pushes, func(i, j int) bool { return pushes[i].PushedAt.Before(pushes[j].PushedAt) })
			out = append(out, pushes...)
		}
	}
	return out
}

// Demo returns the pushes of the demo catalog: an "acme" organization whose images (except legacy) were
// pushed within the last 24 hours before now.
func Demo(now time.Time) []Push {
	h := func(d float64) time.Time { return now.Add(-time.Duration(d * float64(time.Hour))) }
	multi := []string{"linux/amd64", "linux/arm64"}
	return []Push{
		{Namespace: "acme", Repository: "legacy", Tags: []string{"0.9", "latest"}, PushedAt: now.Add(-90 * 24 * time.Hour), OmitDigest: true},
		{Namespace: "acme", Repository: "legacy", Tags: []string{"0.8"}, PushedAt: now.Add(-120 * 24 * time.Hour)},
		{Namespace: "acme", Repository: "api", Tags: []string{"1.4.0"}, PushedAt: now.Add(-10 * 24 * time.Hour), Platforms: multi, Attestations: true},
		{Namespace: "acme", Repository: "api", Tags: []string{"1.5.0", "1.5", "latest"}, PushedAt: h(20), Platforms: multi, Attestations: true},
		{Namespace: "acme", Repository: "web", Tags: []string{"2.0.1", "2.0", "latest"}, PushedAt: h(6), Platforms: []string{"linux/amd64", "linux/arm64", "linux/arm/v7"}, OCI: true},
		{Namespace: "acme", Repository: "billing", Tags: []string{"3.2.0", "stable"}, PushedAt: h(12)},
		{Namespace: "acme", Repository: "billing", Tags: []string{"3.3.0-rc1"}, PushedAt: h(2)},
		{Namespace: "acme", Repository: "worker", Tags: []string{"0.7.3", "latest"}, PushedAt: h(9), Platforms: multi},
		{Namespace: "acme", Repository: "worker", Tags: []string{"0.7.2"}, PushedAt: h(30), Platforms: multi},
		{Namespace: "acme", Repository: "gateway", Tags: []string{"1.0.0", "latest"}, PushedAt: h(1), Platforms: multi, Attestations: true},
		{Namespace: "acme", Repository: "old-branch", Tags: []string{"feature-x"}, PushedAt: h(3), Inactive: true},
	}
}
