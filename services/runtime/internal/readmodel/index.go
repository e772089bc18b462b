package readmodel

import (
	"encoding/hex"
	"sort"

	imagev1 "github.com/scoutbridge/scoutbridge/gen/scoutbridge/image/v1"
)

// imageRec is one digest in one repository: a digest pushed to two repositories is two images, so
// each repository gets its rows (the row key holds the repository).
type imageRec struct {
	digest, registry, repository string
	tags, platforms              []string
	// dig numbers the distinct digest, for the funnel's digest counts.
	dig int32
}

type imageKey struct{ registry, repository, digest string }

type rowKey struct{ vuln, registry, repository, pkg, version string }

type rowRec struct {
	key             rowKey
	hash            [16]byte
	title, provider string
	fixed           []string
	vuln            int32
}

// id is the row's stable id (RowID).
func (r *rowRec) id() string { return hex.EncodeToString(r.hash[:]) }

type findingRec struct {
	image int32
	row   int32
	level imagev1.RiskLevel
	score float64
	// reports are the detection times (unix nanoseconds), ascending.
	reports []int64
}

// index is the in-memory, column-friendly copy of the read model.
type index struct {
	images      []imageRec
	imageByKey  map[imageKey]int32
	digests     map[string]int32
	rows        []rowRec
	rowByKey    map[[16]byte]int32
	strs        map[string]string
	vulns       map[string]int32
	findings    []findingRec
	findingByIR map[[2]int32]int32
}

func newIndex() *index {
	return &index{imageByKey: map[imageKey]int32{}, digests: map[string]int32{}, rowByKey: map[[16]byte]int32{}, strs: map[string]string{}, vulns: map[string]int32{}, findingByIR: map[[2]int32]int32{}}
}

// intern keeps one copy of each repeated string (ids, names, versions, titles).
func (x *index) intern(s string) string {
	if v, ok := x.strs[s]; ok {
		return v
	}
	x.strs[s] = s
	return s
}

func (x *index) internAll(v []string) []string {
	if len(v) == 0 {
		return nil
	}
	out := make([]string, len(v))
	for i, s := range v {
		out[i] = x.intern(s)
	}
	return out
}

func (x *index) putImage(im imageRec) int32 {
	im.registry, im.repository = x.intern(im.registry), x.intern(im.repository)
	im.tags, im.platforms = x.internAll(im.tags), x.internAll(im.platforms)
	k := imageKey{im.registry, im.repository, im.digest}
	if i, ok := x.imageByKey[k]; ok {
		old := &x.images[i]
		old.tags = im.tags
		if len(im.platforms) > 0 {
			old.platforms = im.platforms
		}
		return i
	}
	d, ok := x.digests[im.digest]
	if !ok {
		d = int32(len(x.digests))
		x.digests[im.digest] = d
	}
	im.dig = d
	i := int32(len(x.images))
	x.images = append(x.images, im)
	x.imageByKey[k] = i
	return i
}

// putFinding adds or updates the finding of report r in image img (without its report time).
func (x *index) putFinding(img int32, r Report) int32 {
	im := x.images[img]
	h := rowHash(r.VulnerabilityID, im.registry, im.repository, r.PackageName, r.PackageVersion)
	ri, ok := x.rowByKey[h]
	if !ok {
		k := rowKey{x.intern(r.VulnerabilityID), im.registry, im.repository, x.intern(r.PackageName), x.intern(r.PackageVersion)}
		v, ok := x.vulns[k.vuln]
		if !ok {
			v = int32(len(x.vulns))
			x.vulns[k.vuln] = v
		}
		ri = int32(len(x.rows))
		x.rows = append(x.rows, rowRec{key: k, hash: h, vuln: v})
		x.rowByKey[h] = ri
	}
	row := &x.rows[ri]
	row.title, row.provider, row.fixed = x.intern(r.Title), x.intern(r.Provider), x.internAll(r.FixedVersions)
	fi, ok := x.findingByIR[[2]int32{img, ri}]
	if !ok {
		fi = int32(len(x.findings))
		x.findings = append(x.findings, findingRec{image: img, row: ri})
		x.findingByIR[[2]int32{img, ri}] = fi
	}
	f := &x.findings[fi]
	f.level, f.score = r.RiskLevel, r.RiskScore
	return fi
}

func (x *index) add(r Report) {
	img := x.putImage(imageRec{digest: r.Digest, registry: r.Registry, repository: r.Repository, tags: r.Tags, platforms: r.PlatformDigests})
	f := &x.findings[x.putFinding(img, r)]
	at := r.DetectedAt.UnixNano()
	i := sort.Search(len(f.reports), func(i int) bool { return f.reports[i] >= at })
	f.reports = append(f.reports, 0)
	copy(f.reports[i+1:], f.reports[i:])
	f.reports[i] = at
}

// window returns the first and last report time in [start, end]; ok is false when there is none.
func (f *findingRec) window(start, end int64) (first, last int64, ok bool) {
	rs := f.reports
	i := sort.Search(len(rs), func(i int) bool { return rs[i] >= start })
	if i == len(rs) || rs[i] > end {
		return 0, 0, false
	}
	j := sort.Search(len(rs), func(j int) bool { return rs[j] > end }) - 1
	return rs[i], rs[j], true
}
