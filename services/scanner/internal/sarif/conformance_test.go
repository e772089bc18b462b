package sarif

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scoutbridge/scoutbridge/pkg/testutil"
)

// fixtures is the shared folder of real Scout outputs (../shared/fixtures/scout next to the repository);
// the test skips when it is absent.
func fixtures(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(testutil.RepoRoot(t), "..", "shared", "fixtures", "scout")
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("real Scout samples not present (%s)", dir)
	}
	return dir
}

// rawCounts reads a sample independently of the parser: result count, and for every multi-purl rule
// the purls its results name in their messages.
func rawCounts(t *testing.T, b []byte) (results int, multi map[string][]string) {
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
			Results []json.RawMessage `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	multi = map[string][]string{}
	for _, r := range doc.Runs[0].Tool.Driver.Rules {
		if len(r.Properties.Purls) > 1 {
			multi[r.ID] = r.Properties.Purls
		}
	}
	return len(doc.Runs[0].Results), multi
}

func TestConformanceWithRealScoutSamples(t *testing.T) {
	dir := fixtures(t)
	files, _ := filepath.Glob(filepath.Join(dir, "sarif_v*.sarif.json"))
	if len(files) == 0 {
		t.Skip("no SARIF samples")
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
			results, multi := rawCounts(t, b)
			if len(rep.Findings) != results {
				t.Fatalf("%d findings, want %d (one per result)", len(rep.Findings), results)
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
			// A rule with several purls: one finding per purl, each with its own fixed version.
			for id, purls := range multi {
				multiSeen++
				got := map[string]string{}
				for _, f := range rep.Findings {
					if f.GetVulnerabilityId() == id {
						got[f.GetPackage().GetPurl()] = strings.Join(f.GetFixedVersions(), ",")
					}
				}
				fixes := map[string]bool{}
				for _, p := range purls {
					if _, ok := got[p]; !ok {
						t.Errorf("rule %s: no finding for %s (got %v)", id, p, got)
					}
					fixes[got[p]] = true
				}
				if len(fixes) != len(purls) {
					t.Errorf("rule %s: packages share a fixed version %v, want one each", id, got)
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
