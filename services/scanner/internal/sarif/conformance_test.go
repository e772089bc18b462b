package sarif

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/scoutbridge/scoutbridge/pkg/testutil"
)

// fixtures is the shared folder of real Scout outputs (../shared/fixtures/scout next to the repository);
// the test skips when it is absent, unless SCOUTBRIDGE_REQUIRE_FIXTURES=1 says it must run.
func fixtures(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(testutil.RepoRoot(t), "..", "shared", "fixtures", "scout")
	if _, err := os.Stat(dir); err != nil {
		if os.Getenv("SCOUTBRIDGE_REQUIRE_FIXTURES") == "1" {
			t.Fatalf("SCOUTBRIDGE_REQUIRE_FIXTURES=1 but the real Scout samples are absent: %v", err)
		}
		t.Skipf("real Scout samples not present (%s)", dir)
	}
	return dir
}

// sample is a real report read independently of the parser: its result count, and for every result of
// a rule that lists several purls, the package and fixed version its own message names.
type sample struct {
	results int
	multi   []multiResult
}

type multiResult struct{ rule, purl, fixed string }

var messageLine = regexp.MustCompile(`(?m)^\s*(Package|Fixed version)\s+: (\S.*?)\s*$`)

func readSample(t *testing.T, b []byte) sample {
	var doc struct {
		Runs []struct {
			Tool struct {
				Driver struct {
					Rules []struct {
						ID         string `json:"id"`
						Properties struct {
							Purls []string `json:"purls"`
						} `json:"properties"`
					} `json:"rules"`
				} `json:"driver"`
			} `json:"tool"`
			Results []struct {
				RuleID  string `json:"ruleId"`
				Message struct {
					Text string `json:"text"`
				} `json:"message"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	run := doc.Runs[0]
	multi := map[string]bool{}
	for _, r := range run.Tool.Driver.Rules {
		multi[r.ID] = len(r.Properties.Purls) > 1
	}
	s := sample{results: len(run.Results)}
	for _, r := range run.Results {
		if !multi[r.RuleID] {
			continue
		}
		m := multiResult{rule: r.RuleID}
		for _, l := range messageLine.FindAllStringSubmatch(r.Message.Text, -1) {
			if l[1] == "Package" {
				m.purl = l[2]
			} else {
				m.fixed = l[2]
			}
		}
		s.multi = append(s.multi, m)
	}
	return s
}

func TestConformanceWithRealScoutSamples(t *testing.T) {
	dir := fixtures(t)
	files, _ := filepath.Glob(filepath.Join(dir, "sarif_v*.sarif.json"))
	if !slices.ContainsFunc(files, func(f string) bool { return strings.HasPrefix(filepath.Base(f), "sarif_v1.") }) {
		t.Fatalf("%s exists but holds no Scout 1.x SARIF sample (sarif_v1.*.sarif.json)", dir)
	}
	multiSeen := 0
	for _, path := range files {
		name := filepath.Base(path)
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			rep, err := Parse(b)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			want := readSample(t, b)
			if len(rep.Findings) != want.results {
				t.Fatalf("%d findings, want %d (one per result)", len(rep.Findings), want.results)
			}
			if strings.HasPrefix(name, "sarif_v0.") != rep.Legacy {
				t.Errorf("legacy = %v for %s", rep.Legacy, name)
			}
			for _, f := range rep.Findings {
				if f.GetPackage().GetName() == "" || f.GetVulnerabilityId() == "" {
					t.Errorf("finding without package or id: %v", f)
				}
				if v := f.GetCvss().GetVector(); strings.HasPrefix(v, "CVSS:4.0/") && f.GetCvss().GetVersion() != "4.0" {
					t.Errorf("%s: CVSS 4 vector with version %q", f.GetVulnerabilityId(), f.GetCvss().GetVersion())
				}
			}
			// A rule with several purls: each package has its own finding with the fix its result names.
			got := map[string][]string{}
			for _, f := range rep.Findings {
				got[f.GetVulnerabilityId()+" "+f.GetPackage().GetPurl()] = f.GetFixedVersions()
			}
			for _, m := range want.multi {
				multiSeen++
				fixes, ok := got[m.rule+" "+m.purl]
				wantFix := fixedVersions(m.fixed)
				if !ok || !slices.Equal(fixes, wantFix) {
					t.Errorf("rule %s, package %s: found=%v fixed %v, want %v", m.rule, m.purl, ok, fixes, wantFix)
				}
			}
		})
	}
	if multiSeen == 0 {
		t.Log("no sample has a multi-purl rule")
	}
}

// BenchmarkParseLargestSample parses the largest real SARIF sample (MB/s and allocations).
func BenchmarkParseLargestSample(b *testing.B) {
	dir := fixtures(b)
	files, _ := filepath.Glob(filepath.Join(dir, "sarif_v1*.sarif.json"))
	var largest string
	var size int64
	for _, f := range files {
		if st, err := os.Stat(f); err == nil && st.Size() > size {
			largest, size = f, st.Size()
		}
	}
	data, err := os.ReadFile(largest)
	if err != nil {
		b.Skip(err)
	}
	b.Logf("%s: %d bytes", filepath.Base(largest), len(data))
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	var n int
	for b.Loop() {
		rep, err := Parse(data)
		if err != nil {
			b.Fatal(err)
		}
		n = len(rep.Findings)
	}
	b.ReportMetric(float64(n), "findings")
}
