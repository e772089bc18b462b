package run

import (
	"context"
	"strings"

	"github.com/distribution/reference"

	imagev1 "github.com/scoutbridge/scoutbridge/gen/scoutbridge/image/v1"
)

// runningDue asks the runtime service which digests run now and returns those last evaluated longer
// than RESCAN_INTERVAL before this run started (or never), so that a vulnerability published today
// against an image pushed months ago is reported today; stale holds the keys of those evaluated
// before. A runtime service that cannot be reached is logged; its images stay due and the next run
// tries again.
func (ex *execution) runningDue(ctx context.Context) (due []*imagev1.Image, stale map[Key]bool) {
	o, r := ex.o, ex.run
	if o.runtime == nil || o.opt.RescanInterval <= 0 {
		return nil, nil
	}
	running, err := o.runtime.RunningImages(ctx)
	if err != nil {
		o.log.WarnContext(ctx, "cannot list running images; they are re-evaluated by a later run", "run_id", r.ID, "error", err.Error())
		return nil, nil
	}
	stale = map[Key]bool{}
	seen := map[Key]bool{}
	for _, ri := range running {
		img, ok := ImageFromName(ri.ImageName, ri.Digest)
		if !ok {
			o.log.WarnContext(ctx, "cannot tell the repository of a running image; not re-evaluated",
				"image_name", ri.ImageName, "digest", ri.Digest)
			continue
		}
		k := KeyOf(img)
		if seen[k] {
			continue
		}
		seen[k] = true
		ev, done, err := o.store.Evaluated(ctx, k)
		if err != nil {
			o.log.ErrorContext(ctx, "read scan memory", "digest", k.Digest, "error", err.Error())
			continue
		}
		if done && r.StartedAt.Sub(ev.At) < o.opt.RescanInterval {
			continue
		}
		due = append(due, img)
		stale[k] = done
	}
	return due, stale
}

// ImageFromName turns a runtime's image name ("docker.io/acme/api", "acme/api:1.2", "nginx") and a
// digest into the image to scan: registry "docker.io" and repository "acme/api" (Docker Hub's
// official images are "library/nginx").
func ImageFromName(name, digest string) (*imagev1.Image, bool) {
	if name == "" || !strings.HasPrefix(digest, "sha256:") {
		return nil, false
	}
	named, err := reference.ParseNormalizedNamed(name)
	if err != nil {
		return nil, false
	}
	img := &imagev1.Image{Registry: reference.Domain(named), Repository: reference.Path(named), Digest: digest}
	if tagged, ok := named.(reference.Tagged); ok {
		img.Tags = []string{tagged.Tag()}
	}
	return img, true
}
