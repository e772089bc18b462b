package readmodel

import (
	"sort"
	"strings"
	"time"

	imagev1 "github.com/scoutbridge/scoutbridge/gen/scoutbridge/image/v1"
	"github.com/scoutbridge/scoutbridge/services/runtime/internal/inventory"
)

// Params are the tutorial's parameters.
type Params struct {
	Lookback  time.Duration
	NewWithin time.Duration
	Levels    []imagev1.RiskLevel
	// Stages to keep; "*" keeps every stage, "None" matches containers without one. Case-insensitive.
	Stages            []string
	IncludeNotRunning bool
	IncludeNotNew     bool
	AsOf              time.Time
}

// WithDefaults fills unset parameters with the tutorial's defaults.
func (p Params) WithDefaults(now time.Time) Params {
	if p.Lookback <= 0 {
		p.Lookback = 7 * 24 * time.Hour
	}
	if p.NewWithin <= 0 {
		p.NewWithin = 24 * time.Hour
	}
	if len(p.Levels) == 0 {
		p.Levels = []imagev1.RiskLevel{imagev1.RiskLevel_RISK_LEVEL_CRITICAL}
	}
	if len(p.Stages) == 0 {
		p.Stages = []string{"production"}
	}
	if p.AsOf.IsZero() {
		p.AsOf = now
	}
	return p
}

// Runtime is what the read model needs of the inventory.
type Runtime interface {
	Running(asOf time.Time) []inventory.Container
}

// Row is one prioritized (vulnerability, registry, repository, package, version).
type Row struct {
	RowID           string
	VulnerabilityID string
	Title           string
	Provider        string
	Registry        string
	Repository      string
	PackageName     string
	PackageVersion  string
	RiskLevel       imagev1.RiskLevel
	RiskScore       float64
	Images          []AffectedImage
	FirstSeen       time.Time
	LastSeen        time.Time
	New             bool
	FixedVersions   []string
}

// AffectedImage is one digest of a row with the containers that run it.
type AffectedImage struct {
	Digest     string
	Tags       []string
	Containers []inventory.Container
}

// StageName is how a missing stage is shown ("None", as the tutorial).
func StageName(s string) string {
	if s == "" {
		return "None"
	}
	return s
}

// eval holds what one query evaluation needs about runtime, per image of the index.
type eval struct {
	p          Params
	start, end int64
	newSince   int64
	levels     [8]bool
	// running[i] are the containers running image i (matched on its digest or a platform digest).
	running [][]inventory.Container
	// staged[i] are those of them in the chosen stages.
	staged         [][]inventory.Container
	runtimeDigests int
	stagedDigests  int
	stageAny       bool
	stageSet       map[string]bool
}

func (s *Store) newEval(p Params, rt Runtime) *eval {
	e := &eval{p: p, start: p.AsOf.Add(-p.Lookback).UnixNano(), end: p.AsOf.UnixNano(), newSince: p.AsOf.Add(-p.NewWithin).UnixNano(),
		stageSet: map[string]bool{}}
	for _, l := range p.Levels {
		if int(l) >= 0 && int(l) < len(e.levels) {
			e.levels[l] = true
		}
	}
	for _, st := range p.Stages {
		if st == "*" {
			e.stageAny = true
		}
		e.stageSet[strings.ToLower(st)] = true
	}
	var containers []inventory.Container
	if rt != nil {
		containers = rt.Running(p.AsOf)
	}
	byDigest := map[string][]int{}
	rtDigests, stDigests := map[string]bool{}, map[string]bool{}
	for ci, c := range containers {
		for _, d := range c.Digests {
			byDigest[d] = append(byDigest[d], ci)
		}
		rtDigests[c.ImageDigest] = true
		if e.inStage(c) {
			stDigests[c.ImageDigest] = true
		}
	}
	e.runtimeDigests, e.stagedDigests = len(rtDigests), len(stDigests)
	e.running = make([][]inventory.Container, len(s.idx.images))
	e.staged = make([][]inventory.Container, len(s.idx.images))
	if len(byDigest) == 0 {
		return e
	}
	for i, im := range s.idx.images {
		var seen map[int]bool
		for _, d := range append([]string{im.digest}, im.platforms...) {
			for _, ci := range byDigest[d] {
				if seen == nil {
					seen = map[int]bool{}
				}
				if seen[ci] {
					continue
				}
				seen[ci] = true
				e.running[i] = append(e.running[i], containers[ci])
				if e.inStage(containers[ci]) {
					e.staged[i] = append(e.staged[i], containers[ci])
				}
			}
		}
	}
	return e
}

func (e *eval) inStage(c inventory.Container) bool {
	return e.stageAny || e.stageSet[strings.ToLower(StageName(c.Stage))]
}

// rowAgg accumulates one row over its qualifying findings.
type rowAgg struct {
	row         int32
	first, last int64
	level       imagev1.RiskLevel
	score       float64
}

// aggregate groups the qualifying findings (risk level, then runtime and stage, BEFORE any dedup) by
// row. keep decides whether a finding's image qualifies. pos maps a row to its aggregate (-1: none).
func (s *Store) aggregate(e *eval, keep func(img int32) bool) (aggs []rowAgg, pos []int32) {
	pos = make([]int32, len(s.idx.rows))
	for i := range pos {
		pos[i] = -1
	}
	for fi := range s.idx.findings {
		f := &s.idx.findings[fi]
		if !e.levels[f.level] || !keep(f.image) {
			continue
		}
		first, last, ok := f.window(e.start, e.end)
		if !ok {
			continue
		}
		if pos[f.row] < 0 {
			pos[f.row] = int32(len(aggs))
			aggs = append(aggs, rowAgg{row: f.row, first: first, last: last})
		}
		a := &aggs[pos[f.row]]
		a.first, a.last = min(a.first, first), max(a.last, last)
		a.level = max(a.level, f.level)
		a.score = max(a.score, f.score)
	}
	return aggs, pos
}

// Prioritized returns every row for p, newest first.
func (s *Store) Prioritized(p Params, rt Runtime) []Row {
	rows, _ := s.PrioritizedPage(p, rt, 0, -1)
	return rows
}

// PrioritizedPage returns limit rows (all when negative) from offset, newest first (first seen, then
// last seen, descending; ties by vulnerability id and repository), and the number of rows in all.
// Only the page's rows are materialized with their images and containers.
func (s *Store) PrioritizedPage(p Params, rt Runtime, offset, limit int) ([]Row, int) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	e := s.newEval(p, rt)
	keep := func(img int32) bool { return len(e.staged[img]) > 0 }
	if p.IncludeNotRunning {
		keep = func(int32) bool { return true }
	}
	aggs, _ := s.aggregate(e, keep)
	kept := aggs[:0]
	for _, a := range aggs {
		if a.first >= e.newSince || p.IncludeNotNew {
			kept = append(kept, a)
		}
	}
	rows := s.idx.rows
	sort.Slice(kept, func(i, j int) bool {
		a, b := kept[i], kept[j]
		if a.first != b.first {
			return a.first > b.first
		}
		if a.last != b.last {
			return a.last > b.last
		}
		ka, kb := rows[a.row].key, rows[b.row].key
		if ka.vuln != kb.vuln {
			return ka.vuln < kb.vuln
		}
		if ka.repository != kb.repository {
			return ka.repository < kb.repository
		}
		return string(rows[a.row].hash[:]) < string(rows[b.row].hash[:])
	})
	total := len(kept)
	offset = min(max(offset, 0), total)
	end := total
	if limit >= 0 {
		end = min(offset+limit, total)
	}
	page := kept[offset:end]
	out := make([]Row, len(page))
	at := map[int32]int{}
	for i, a := range page {
		r := rows[a.row]
		at[a.row] = i
		out[i] = Row{RowID: r.id(), VulnerabilityID: r.key.vuln, Title: r.title, Provider: r.provider, Registry: r.key.registry,
			Repository: r.key.repository, PackageName: r.key.pkg, PackageVersion: r.key.version, RiskLevel: a.level,
			RiskScore: a.score, FirstSeen: time.Unix(0, a.first).UTC(), LastSeen: time.Unix(0, a.last).UTC(), New: a.first >= e.newSince,
			FixedVersions: append([]string(nil), r.fixed...)}
	}
	if len(page) == 0 {
		return out, total
	}
	// Second pass: the images of the page's rows.
	seen := map[[2]int32]bool{}
	for fi := range s.idx.findings {
		f := &s.idx.findings[fi]
		i, ok := at[f.row]
		if !ok || !e.levels[f.level] || !keep(f.image) || seen[[2]int32{f.row, f.image}] {
			continue
		}
		if _, _, ok := f.window(e.start, e.end); !ok {
			continue
		}
		seen[[2]int32{f.row, f.image}] = true
		im := s.idx.images[f.image]
		cs := e.staged[f.image]
		if p.IncludeNotRunning {
			cs = e.running[f.image]
		}
		out[i].Images = append(out[i].Images, AffectedImage{Digest: im.digest, Tags: sortedCopy(im.tags), Containers: append([]inventory.Container(nil), cs...)})
	}
	for i := range out {
		sort.Slice(out[i].Images, func(a, b int) bool { return out[i].Images[a].Digest < out[i].Images[b].Digest })
	}
	return out, total
}

// Stage is one funnel stage.
type Stage struct {
	Name            string
	Vulnerabilities int64
	Findings        int64
	ImageDigests    int64
}

// Funnel is the alert reduction.
type Funnel struct {
	Stages            []Stage
	RegistryDigests   int64
	RuntimeDigests    int64
	ProductionDigests int64
}

type counter struct {
	vulns, images         []bool
	nVulns, nImages, nFnd int64
}

func newCounter(vulns, images int) *counter {
	return &counter{vulns: make([]bool, vulns), images: make([]bool, images)}
}

// add counts one finding of vuln in the image with digest number dig.
func (c *counter) add(vuln, dig int32) {
	if !c.vulns[vuln] {
		c.vulns[vuln] = true
		c.nVulns++
	}
	if !c.images[dig] {
		c.images[dig] = true
		c.nImages++
	}
	c.nFnd++
}

func (c *counter) stage(name string) Stage {
	return Stage{Name: name, Vulnerabilities: c.nVulns, Findings: c.nFnd, ImageDigests: c.nImages}
}

// AlertReduction computes the funnel all → critical → running → production → new. Each stage counts
// distinct vulnerabilities, distinct findings (image, vulnerability, package, version) and distinct
// image digests. include_not_running and include_not_new do not apply: the funnel shows every filter.
func (s *Store) AlertReduction(p Params, rt Runtime) Funnel {
	s.mu.RLock()
	defer s.mu.RUnlock()
	e := s.newEval(p, rt)
	nv, ni := len(s.idx.vulns), len(s.idx.digests)
	all, crit, run, prod, fresh := newCounter(nv, ni), newCounter(nv, ni), newCounter(nv, ni), newCounter(nv, ni), newCounter(nv, ni)
	for fi := range s.idx.findings {
		f := &s.idx.findings[fi]
		if _, _, ok := f.window(e.start, e.end); !ok {
			continue
		}
		v, d := s.idx.rows[f.row].vuln, s.idx.images[f.image].dig
		all.add(v, d)
		if !e.levels[f.level] {
			continue
		}
		crit.add(v, d)
		if len(e.running[f.image]) == 0 {
			continue
		}
		run.add(v, d)
		if len(e.staged[f.image]) == 0 {
			continue
		}
		prod.add(v, d)
	}
	staged := func(img int32) bool { return len(e.staged[img]) > 0 }
	aggs, pos := s.aggregate(e, staged)
	for fi := range s.idx.findings {
		f := &s.idx.findings[fi]
		if !e.levels[f.level] || !staged(f.image) || pos[f.row] < 0 || aggs[pos[f.row]].first < e.newSince {
			continue
		}
		if _, _, ok := f.window(e.start, e.end); ok {
			fresh.add(s.idx.rows[f.row].vuln, s.idx.images[f.image].dig)
		}
	}
	return Funnel{
		Stages:          []Stage{all.stage("all"), crit.stage("critical"), run.stage("running"), prod.stage("production"), fresh.stage("new")},
		RegistryDigests: all.nImages, RuntimeDigests: int64(e.runtimeDigests), ProductionDigests: int64(e.stagedDigests),
	}
}
