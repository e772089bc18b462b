package scan

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/distribution/reference"

	imagev1 "github.com/scoutbridge/scoutbridge/gen/scoutbridge/image/v1"
)

// ErrInvalid marks a request that cannot be scanned as given.
var ErrInvalid = errors.New("invalid request")

var platformRE = regexp.MustCompile(`^[a-z0-9]+/[a-z0-9_]+(/[a-z0-9]+)?$`)

// target is a validated image: what Scout is given and the key for sharing and caching.
type target struct {
	ref      string // familiar "repository@digest", e.g. "acme/api@sha256:..."; never begins with '-'
	registry string
	repo     string
	digest   string
	platform string
}

func (t target) key() string { return t.ref + "|" + t.platform }

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// ValidatePlatform checks that a platform looks like os/arch[/variant] (e.g. linux/arm/v7); it is
// what a request's platform and SCANNER_PLATFORM must be.
func ValidatePlatform(platform string) error {
	if !platformRE.MatchString(platform) {
		return invalid("platform %q is not os/arch[/variant]", platform)
	}
	return nil
}

// validate checks the image against the distribution reference grammar: a repository and a digest are
// required, nothing may begin with '-', and the platform must look like os/arch[/variant].
func validate(img *imagev1.Image, platform, defaultPlatform string) (target, error) {
	if img == nil {
		return target{}, invalid("image is required")
	}
	registry, repo, digest := img.GetRegistry(), img.GetRepository(), img.GetDigest()
	if platform == "" {
		platform = defaultPlatform
	}
	for name, v := range map[string]string{"registry": registry, "repository": repo, "digest": digest, "platform": platform} {
		if strings.HasPrefix(v, "-") {
			return target{}, invalid("%s must not begin with '-'", name)
		}
		if strings.ContainsAny(v, " \t\r\n\x00") {
			return target{}, invalid("%s must not contain whitespace", name)
		}
	}
	if repo == "" {
		return target{}, invalid("image.repository is required")
	}
	if digest == "" {
		return target{}, invalid("image.digest is required (sha256:<64 hex>): Scout scans one exact image, never a tag")
	}
	if err := ValidatePlatform(platform); err != nil {
		return target{}, err
	}
	name, wantDomain := repo, "docker.io"
	if registry != "" && registry != "docker.io" && registry != "index.docker.io" && registry != "registry-1.docker.io" {
		name, wantDomain = registry+"/"+repo, registry
	}
	ref, err := reference.ParseNormalizedNamed(name + "@" + digest)
	if err != nil {
		return target{}, invalid("%q is not a valid image reference: %v", name+"@"+digest, err)
	}
	canonical, ok := ref.(reference.Canonical)
	if !ok {
		return target{}, invalid("image.digest is required")
	}
	if _, tagged := ref.(reference.Tagged); tagged {
		return target{}, invalid("repository must not carry a tag")
	}
	if d := reference.Domain(canonical); d != wantDomain {
		// "ACME/api" parses as registry "ACME": the repository must not smuggle in another registry.
		return target{}, invalid("repository %q names registry %q, not %q", repo, d, wantDomain)
	}
	familiar := reference.FamiliarString(canonical)
	if strings.HasPrefix(familiar, "-") {
		return target{}, invalid("reference must not begin with '-'")
	}
	return target{
		ref: familiar, registry: reference.Domain(canonical), repo: reference.Path(canonical),
		digest: canonical.Digest().String(), platform: platform,
	}, nil
}
