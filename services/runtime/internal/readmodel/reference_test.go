package readmodel

import (
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	imagev1 "github.com/scoutbridge/scoutbridge/gen/scoutbridge/image/v1"
	"github.com/scoutbridge/scoutbridge/pkg/sqlitedb"
	"github.com/scoutbridge/scoutbridge/services/runtime/internal/inventory"
)

// The reference set, worked out by hand. As of T, lookback 7 days, new within 24 hours.
//
// Images (docker.io):
//
//	A acme/api    index dA, platforms pA1 pA2  runs in production (Kubernetes reports the index digest)
//	B acme/web    index dB, platform pB1       runs in production (Docker reports the platform digest)
//	C acme/worker dC                           runs in staging only
//	D acme/batch  dD                           runs twice: staging (seen last) and production
//	E acme/old    dE                           runs nowhere
//	F acme/api    dF                           ran in production, last seen 4h ago (> 3h): aged out
//	G acme/api    dG                           runs in production
//
// Findings (time of each report before T):
//
//	A CVE-1 openssl 1.0 CRITICAL 2h           G CVE-1 openssl 1.0 CRITICAL 30m    F CVE-1 openssl 1.0 CRITICAL 1h
//	A CVE-2 zlib 1.2    CRITICAL 5d, 3d, 1h   (daily rescan: not new; the DQL would call it new)
//	B CVE-3 curl 7.0    CRITICAL 3h, 1h       B CVE-4 curl 7.0 HIGH 3h
//	C CVE-5 libx 1      CRITICAL 2h           D CVE-6 glibc 2.31 CRITICAL 4h (dedup-before-filter case)
//	E CVE-7 sudo 1.9    CRITICAL 1h
//	A CVE-8 pcre 8      CRITICAL 8d (outside the lookback)
//	A CVE-9 bash 5      CRITICAL 8d, 2h (the 8d report is outside the lookback: new)
var refT = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

func dg(name string) string {
	return "sha256:" + strings.Repeat(fmt.Sprintf("%x", []byte(name))[:4], 16)
}

type refImage struct {
	repo      string
	digest    string
	platforms []string
}

var refImages = map[string]refImage{
	"A": {"acme/api", dg("dA"), []string{dg("pA1"), dg("pA2")}},
	"B": {"acme/web", dg("dB"), []string{dg("pB1")}},
	"C": {"acme/worker", dg("dC"), nil},
	"D": {"acme/batch", dg("dD"), nil},
	"E": {"acme/old", dg("dE"), nil},
	"F": {"acme/api", dg("dF"), nil},
	"G": {"acme/api", dg("dG"), nil},
}

func refReports() []Report {
	type f struct {
		img, vuln, pkg, ver string
		level               imagev1.RiskLevel
		ago                 []time.Duration
	}
	crit, high := imagev1.RiskLevel_RISK_LEVEL_CRITICAL, imagev1.RiskLevel_RISK_LEVEL_HIGH
	h, d := time.Hour, 24*time.Hour
	fs := []f{
		{"A", "CVE-2", "zlib", "1.2", crit, []time.Duration{5 * d, 3 * d}},
		{"A", "CVE-8", "pcre", "8", crit, []time.Duration{8 * d}},
		{"A", "CVE-9", "bash", "5", crit, []time.Duration{8 * d, 2 * h}},
		{"D", "CVE-6", "glibc", "2.31", crit, []time.Duration{4 * h}},
		{"B", "CVE-3", "curl", "7.0", crit, []time.Duration{3 * h, 1 * h}},
		{"B", "CVE-4", "curl", "7.0", high, []time.Duration{3 * h}},
		{"A", "CVE-1", "openssl", "1.0", crit, []time.Duration{2 * h}},
		{"C", "CVE-5", "libx", "1", crit, []time.Duration{2 * h}},
		{"E", "CVE-7", "sudo", "1.9", crit, []time.Duration{1 * h}},
		{"F", "CVE-1", "openssl", "1.0", crit, []time.Duration{1 * h}},
		{"A", "CVE-2", "zlib", "1.2", crit, []time.Duration{1 * h}},
		{"G", "CVE-1", "openssl", "1.0", crit, []time.Duration{30 * time.Minute}},
	}
	var out []Report
	seq := int64(0)
	for _, x := range fs {
		im := refImages[x.img]
		for _, ago := range x.ago {
			seq++
			out = append(out, Report{Sequence: seq, Registry: "docker.io", Repository: im.repo, Digest: im.digest,
				Tags: []string{"v" + x.img}, PlatformDigests: im.platforms, VulnerabilityID: x.vuln, Title: x.vuln + ": bad",
				Provider: "Docker Scout", PackageName: x.pkg, PackageVersion: x.ver, RiskLevel: x.level, RiskScore: 9.8,
				DetectedAt: refT.Add(-ago)})
		}
	}
	return out
}

type staticSource struct {
	name string
	cs   []inventory.Container
}

func (s *staticSource) Name() string                                        { return s.name }
func (s *staticSource) Poll(context.Context) ([]inventory.Container, error) { return s.cs, nil }

func ctr(source, name, stage, digest string) inventory.Container {
	return inventory.Container{Source: source, ID: name, Name: name, Stage: stage, State: "running", ImageDigest: digest, Digests: []string{digest}}
}

// refRuntime polls F's container 4 hours before T, then the others at T, with the real inventory.
func refRuntime(t *testing.T) *inventory.Inventory {
	t.Helper()
	old := &staticSource{name: "dynatrace", cs: []inventory.Container{ctr("dynatrace", "f-prod", "production", dg("dF"))}}
	k8s := &staticSource{name: "kubernetes", cs: []inventory.Container{ctr("kubernetes", "a-prod", "production", dg("dA")),
		ctr("kubernetes", "c-staging", "staging", dg("dC"))}}
	docker := &staticSource{name: "docker", cs: []inventory.Container{ctr("docker", "b-prod", "production", dg("pB1")),
		ctr("docker", "d-prod", "production", dg("dD")), ctr("docker", "d-staging", "staging", dg("dD")),
		ctr("docker", "g-prod", "Production", dg("dG"))}}
	inv := inventory.New(3*time.Hour, old, k8s, docker)
	inv.SetClock(func() time.Time { return refT.Add(-4 * time.Hour) })
	k8s.cs, docker.cs = nil, nil
	if err := inv.Poll(t.Context()); err != nil {
		t.Fatal(err)
	}
	k8s.cs = []inventory.Container{ctr("kubernetes", "a-prod", "production", dg("dA")), ctr("kubernetes", "c-staging", "staging", dg("dC"))}
	docker.cs = []inventory.Container{ctr("docker", "b-prod", "production", dg("pB1")),
		ctr("docker", "d-prod", "production", dg("dD")), ctr("docker", "d-staging", "staging", dg("dD")),
		ctr("docker", "g-prod", "Production", dg("dG"))}
	old.cs = nil
	inv.SetClock(func() time.Time { return refT })
	if err := inv.Poll(t.Context()); err != nil {
		t.Fatal(err)
	}
	return inv
}

func openRef(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// rowSummary is what a user reads in a row.
type rowSummary struct {
	Vuln, Repo, Pkg string
	Images          []string // digests
	Containers      []string
	First, Last     time.Duration // before T
	New             bool
}

func summarize(rows []Row) []rowSummary {
	var out []rowSummary
	for _, r := range rows {
		s := rowSummary{Vuln: r.VulnerabilityID, Repo: r.Repository, Pkg: r.PackageName + "@" + r.PackageVersion,
			First: refT.Sub(r.FirstSeen), Last: refT.Sub(r.LastSeen), New: r.New}
		for _, im := range r.Images {
			s.Images = append(s.Images, im.Digest)
			for _, c := range im.Containers {
				s.Containers = append(s.Containers, c.Name)
			}
		}
		out = append(out, s)
	}
	return out
}

func TestReferenceSet(t *testing.T) {
	h := time.Hour
	rowCVE1 := rowSummary{"CVE-1", "acme/api", "openssl@1.0", []string{dg("dA"), dg("dG")}, []string{"a-prod", "g-prod"}, 2 * h, 30 * time.Minute, true}
	rowCVE9 := rowSummary{"CVE-9", "acme/api", "bash@5", []string{dg("dA")}, []string{"a-prod"}, 2 * h, 2 * h, true}
	rowCVE3 := rowSummary{"CVE-3", "acme/web", "curl@7.0", []string{dg("dB")}, []string{"b-prod"}, 3 * h, 1 * h, true}
	// D runs in staging (seen last) and in production: filtering before dedup keeps it, with only the
	// production container shown. The DQL dedups first and may keep only the staging join.
	rowCVE6 := rowSummary{"CVE-6", "acme/batch", "glibc@2.31", []string{dg("dD")}, []string{"d-prod"}, 4 * h, 4 * h, true}
	// Reported 5 and 3 days ago and again 1 hour ago: every report counts, so it is not new.
	rowCVE2 := rowSummary{"CVE-2", "acme/api", "zlib@1.2", []string{dg("dA")}, []string{"a-prod"}, 5 * 24 * h, 1 * h, false}
	rowCVE5 := rowSummary{"CVE-5", "acme/worker", "libx@1", []string{dg("dC")}, []string{"c-staging"}, 2 * h, 2 * h, true}
	rowCVE6Staging := rowSummary{"CVE-6", "acme/batch", "glibc@2.31", []string{dg("dD")}, []string{"d-staging"}, 4 * h, 4 * h, true}

	tests := []struct {
		name   string
		params Params
		want   []rowSummary
	}{
		{"the defaults give new critical rows in running production images, newest first",
			Params{}, []rowSummary{rowCVE1, rowCVE9, rowCVE3, rowCVE6}},
		{"include_not_new adds the row reported every day for five days",
			Params{IncludeNotNew: true}, []rowSummary{rowCVE1, rowCVE9, rowCVE3, rowCVE6, rowCVE2}},
		{"the staging stage keeps the staging containers only",
			Params{Stages: []string{"staging"}}, []rowSummary{rowCVE5, rowCVE6Staging}},
	}
	s := openRef(t, ":memory:")
	if err := s.Apply(t.Context(), refReports()); err != nil {
		t.Fatal(err)
	}
	rt := refRuntime(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := summarize(s.Prioritized(tc.params.WithDefaults(refT), rt))
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("rows:\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}

	t.Run("every stage with * includes the staging-only image and each image once", func(t *testing.T) {
		rows := s.Prioritized(Params{Stages: []string{"*"}}.WithDefaults(refT), rt)
		var vulns []string
		for _, r := range rows {
			vulns = append(vulns, r.VulnerabilityID)
			if r.VulnerabilityID == "CVE-6" && len(r.Images) != 1 {
				t.Errorf("CVE-6 hits %d images, want 1 (D, with both containers)", len(r.Images))
			}
		}
		if want := []string{"CVE-1", "CVE-5", "CVE-9", "CVE-3", "CVE-6"}; !reflect.DeepEqual(vulns, want) {
			t.Errorf("vulnerabilities %v, want %v", vulns, want)
		}
	})

	t.Run("the funnel counts distinct vulnerabilities, findings and digests at each stage", func(t *testing.T) {
		got := s.AlertReduction(Params{}.WithDefaults(refT), rt)
		want := Funnel{Stages: []Stage{
			{"all", 8, 10, 7},       // CVE-8 is outside the lookback
			{"critical", 7, 9, 7},   // B's HIGH CVE-4 goes
			{"running", 6, 7, 5},    // E never ran, F aged out
			{"production", 5, 6, 4}, // C is staging only
			{"new", 4, 5, 4},        // CVE-2 was reported 5 days ago
		}, RegistryDigests: 7, RuntimeDigests: 5, ProductionDigests: 4}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("funnel:\n got %+v\nwant %+v", got, want)
		}
	})
}

func TestReadModelSurvivesRestartAndIgnoresReplays(t *testing.T) {
	path := filepath.Join(t.TempDir(), "runtime.db")
	s := openRef(t, path)
	reports := refReports()
	if err := s.Apply(t.Context(), reports[:7]); err != nil {
		t.Fatal(err)
	}
	if err := s.Apply(t.Context(), reports); err != nil { // the first seven again, and the rest
		t.Fatal(err)
	}
	rt := refRuntime(t)
	want := s.AlertReduction(Params{}.WithDefaults(refT), rt)
	wantRows := summarize(s.Prioritized(Params{IncludeNotNew: true}.WithDefaults(refT), rt))
	s.Close()

	s2 := openRef(t, path)
	if got := s2.LastSequence(); got != int64(len(reports)) {
		t.Fatalf("last sequence after restart %d, want %d", got, len(reports))
	}
	if got := s2.AlertReduction(Params{}.WithDefaults(refT), rt); !reflect.DeepEqual(got, want) {
		t.Errorf("funnel after restart:\n got %+v\nwant %+v", got, want)
	}
	if got := summarize(s2.Prioritized(Params{IncludeNotNew: true}.WithDefaults(refT), rt)); !reflect.DeepEqual(got, wantRows) {
		t.Errorf("rows after restart:\n got %+v\nwant %+v", got, wantRows)
	}
	if want.Stages[0].Findings != 10 {
		t.Errorf("replayed reports were counted twice: %d findings", want.Stages[0].Findings)
	}
}

// A digest promoted from acme/api to acme/api-prod is one image in two repositories: each repository
// gets its row with its own tags, and the funnel counts the digest once.
func TestADigestInTwoRepositoriesGivesARowInEach(t *testing.T) {
	path := filepath.Join(t.TempDir(), "runtime.db")
	s := openRef(t, path)
	a := refImages["A"]
	report := func(seq int64, repo, tag string) Report {
		return Report{Sequence: seq, Registry: "docker.io", Repository: repo, Digest: a.digest, Tags: []string{tag},
			PlatformDigests: a.platforms, VulnerabilityID: "CVE-1", Title: "CVE-1: bad", Provider: "Docker Scout",
			PackageName: "openssl", PackageVersion: "1.0", RiskLevel: imagev1.RiskLevel_RISK_LEVEL_CRITICAL, DetectedAt: refT.Add(-time.Hour)}
	}
	if err := s.Apply(t.Context(), []Report{report(1, "acme/api", "1.0-rc"), report(2, "acme/api-prod", "1.0")}); err != nil {
		t.Fatal(err)
	}
	rt := refRuntime(t)
	check := func(s *Store) {
		t.Helper()
		var got []string
		for _, r := range s.Prioritized(Params{}.WithDefaults(refT), rt) {
			for _, im := range r.Images {
				got = append(got, fmt.Sprintf("%s %t %v %d", r.Repository, im.Digest == a.digest, im.Tags, len(im.Containers)))
			}
		}
		if want := []string{"acme/api true [1.0-rc] 1", "acme/api-prod true [1.0] 1"}; !reflect.DeepEqual(got, want) {
			t.Errorf("rows %q, want one per repository, each with its tags and a-prod", got)
		}
		if all := s.AlertReduction(Params{}.WithDefaults(refT), rt).Stages[0]; all.ImageDigests != 1 || all.Findings != 2 {
			t.Errorf("funnel %+v: want 1 digest, 2 findings (one per repository)", all)
		}
	}
	check(s)
	s.Close()
	check(openRef(t, path))
}

// A database of the first schema (one repository per digest) is emptied on upgrade and followed again
// from the start: ingest keeps every finding, so nothing is lost.
func TestUpgradeFromTheFirstSchemaFollowsIngestAgain(t *testing.T) {
	path := filepath.Join(t.TempDir(), "runtime.db")
	v1, err := sqlitedb.Open(t.Context(), path, sqlitedb.Options{Migrations: migrations[:1]})
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`INSERT INTO images (id, digest, registry, repository, tags, platform_digests) VALUES (1, 'sha256:x', 'docker.io', 'acme/api', '[]', '[]')`,
		`INSERT INTO findings (id, image_id, vulnerability_id, package_name, package_version, title, provider, risk_level, risk_score, fixed_versions)
		 VALUES (1, 1, 'CVE-0', 'p', '1', 't', 'Docker Scout', 5, 9.8, '[]')`,
		`INSERT INTO reports (sequence, finding_id, detected_at) VALUES (7, 1, 0)`,
		`UPDATE sync_state SET last_sequence = 7`,
	} {
		if _, err := v1.ExecContext(t.Context(), q); err != nil {
			t.Fatal(err)
		}
	}
	v1.Close()

	s := openRef(t, path)
	if got := s.LastSequence(); got != 0 {
		t.Fatalf("cursor after the upgrade %d, want 0 (follow ingest again)", got)
	}
	if err := s.Apply(t.Context(), refReports()); err != nil {
		t.Fatal(err)
	}
	if got := s.AlertReduction(Params{}.WithDefaults(refT), refRuntime(t)).Stages[0]; got.Findings != 10 {
		t.Errorf("all findings after re-following %d, want the reference set's 10 (the old copy is gone)", got.Findings)
	}
}
