package sarif

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"

	imagev1 "github.com/scoutbridge/scoutbridge/gen/scoutbridge/image/v1"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// golden renders findings as indented protojson, one finding per array element.
func golden(t *testing.T, rep *Report) []byte {
	t.Helper()
	var parts []json.RawMessage
	for _, f := range rep.Findings {
		b, err := protojson.Marshal(f)
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, b)
	}
	out, err := json.MarshalIndent(map[string]any{"tool": rep.ToolName, "version": rep.ToolVersion, "legacy": rep.Legacy, "findings": parts}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(out, '\n')
}

func TestParseGolden(t *testing.T) {
	for _, tc := range []struct{ name, input string }{
		{"a Scout 1.18 report with a multi-purl rule, CVSS 4, not fixed and a bare message", "scout-1.18.sarif.json"},
		{"a report followed by a What's next trailer", "trailing-whats-next.sarif.json"},
		{"an empty scan", "empty.sarif.json"},
		{"a Scout 0.6 report (purl in logical locations)", "legacy-0.6.sarif.json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep, err := Parse(readTestdata(t, tc.input))
			if err != nil {
				t.Fatal(err)
			}
			got := golden(t, rep)
			path := filepath.Join("testdata", strings.TrimSuffix(tc.input, ".sarif.json")+".golden.json")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("findings differ from %s (run with -update after checking):\n%s", path, got)
			}
		})
	}
}

func byPurl(rep *Report) map[string]*imagev1.Finding {
	m := map[string]*imagev1.Finding{}
	for _, f := range rep.Findings {
		m[f.GetVulnerabilityId()+" "+f.GetPackage().GetPurl()] = f
	}
	return m
}

func TestParseFacts(t *testing.T) {
	rep, err := Parse(readTestdata(t, "scout-1.18.sarif.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Findings) != 5 {
		t.Fatalf("%d findings, want one per result (5)", len(rep.Findings))
	}
	m := byPurl(rep)
	for _, tc := range []struct {
		name, key, fixed, affected, cvssVersion string
		severity                                imagev1.Severity
		locations                               int
		score                                   float64
	}{
		{"each package of a multi-purl rule gets its own fix (4.1.0)", "CVE-2021-3807 pkg:npm/ansi-regex@4.1.0", "4.1.1", ">=4.0.0,<4.1.1", "3.1", imagev1.Severity_SEVERITY_HIGH, 2, 7.5},
		{"each package of a multi-purl rule gets its own fix (3.0.0)", "CVE-2021-3807 pkg:npm/ansi-regex@3.0.0", "3.0.1", ">=3.0.0,<3.0.1", "3.1", imagev1.Severity_SEVERITY_HIGH, 1, 7.5},
		{"a CVSS 4 vector sets version 4.0", "CVE-2024-45590 pkg:npm/body-parser@1.20.0", "1.20.3", "<1.20.3", "4.0", imagev1.Severity_SEVERITY_HIGH, 1, 8.7},
		{"not fixed is no fixed version; the score falls back to security-severity", "CVE-2005-2541 pkg:deb/debian/tar@1.34%2Bdfsg-1.2%2Bdeb12u1?os_distro=bookworm&os_name=debian&os_version=12", "", ">=1.34+dfsg-1.2+deb12u1", "", imagev1.Severity_SEVERITY_LOW, 13, 3.1},
		{"an empty message falls back to the rule", "GHSA-3xgq-45jj-v275 pkg:npm/%40isaacs/cliui@8.0.2", "8.0.3", "<8.0.3", "3.1", imagev1.Severity_SEVERITY_CRITICAL, 1, 9.8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := m[tc.key]
			if f == nil {
				t.Fatalf("no finding %s among %v", tc.key, keys(m))
			}
			if got := strings.Join(f.GetFixedVersions(), ","); got != tc.fixed {
				t.Errorf("fixed %q, want %q", got, tc.fixed)
			}
			if f.GetAffectedRange() != tc.affected {
				t.Errorf("affected %q, want %q", f.GetAffectedRange(), tc.affected)
			}
			if f.GetCvss().GetVersion() != tc.cvssVersion || f.GetCvss().GetScore() != tc.score {
				t.Errorf("cvss %v, want version %q score %v", f.GetCvss(), tc.cvssVersion, tc.score)
			}
			if f.GetSeverity() != tc.severity {
				t.Errorf("severity %v, want %v", f.GetSeverity(), tc.severity)
			}
			if len(f.GetLocations()) != tc.locations {
				t.Errorf("%d locations, want %d", len(f.GetLocations()), tc.locations)
			}
		})
	}
	cliui := m["GHSA-3xgq-45jj-v275 pkg:npm/%40isaacs/cliui@8.0.2"].GetPackage()
	if cliui.GetNamespace() != "@isaacs" || cliui.GetName() != "cliui" || cliui.GetType() != "npm" || cliui.GetVersion() != "8.0.2" {
		t.Errorf("purl decoded as %v, want namespace @isaacs", cliui)
	}
	tar := m["CVE-2005-2541 pkg:deb/debian/tar@1.34%2Bdfsg-1.2%2Bdeb12u1?os_distro=bookworm&os_name=debian&os_version=12"].GetPackage()
	if tar.GetVersion() != "1.34+dfsg-1.2+deb12u1" || tar.GetNamespace() != "debian" {
		t.Errorf("deb purl decoded as %v", tar)
	}
}

func keys(m map[string]*imagev1.Finding) []string {
	var k []string
	for s := range m {
		k = append(k, s)
	}
	return k
}

func TestParseRejects(t *testing.T) {
	for _, tc := range []struct {
		name  string
		input []byte
		want  error
	}{
		{"truncated JSON", readTestdata(t, "malformed.sarif.json"), ErrMalformed},
		{"no output at all", nil, ErrMalformed},
		{"an HTML error page", []byte("<html><h1>403 Forbidden</h1></html>"), ErrMalformed},
		{"a What's next hint alone", []byte("What's next:\n  docker scout recommendations\n"), ErrMalformed},
		{"a result without its rule", []byte(`{"version":"2.1.0","runs":[{"tool":{"driver":{"name":"docker scout","fullName":"Docker Scout","rules":[]}},"results":[{"ruleId":"CVE-1","message":{"text":""}}]}]}`), ErrMalformed},
		{"a bad purl", []byte(`{"runs":[{"tool":{"driver":{"name":"docker scout","fullName":"Docker Scout","rules":[{"id":"CVE-1","properties":{"purls":["pkg:"]}}]}},"results":[{"ruleId":"CVE-1","message":{"text":""}}]}]}`), ErrMalformed},
		{"two runs", []byte(`{"runs":[{},{}]}`), ErrUnsupported},
		{"another tool's SARIF", []byte(`{"runs":[{"tool":{"driver":{"name":"Trivy","fullName":"Trivy Vulnerability Scanner"}},"results":[]}]}`), ErrUnsupported},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep, err := Parse(tc.input)
			if !errors.Is(err, tc.want) || rep != nil {
				t.Fatalf("got %v, %v; want %v and no report", rep, err, tc.want)
			}
		})
	}
}

func TestSeverityIsTheVendorsWord(t *testing.T) {
	doc := func(props, level, msgSeverity string) []byte {
		return []byte(`{"runs":[{"tool":{"driver":{"name":"docker scout","fullName":"Docker Scout","version":"1.18.2","rules":[
		  {"id":"CVE-1","properties":{"purls":["pkg:npm/a@1.0.0"]` + props + `}}]}},
		  "results":[{"ruleId":"CVE-1","level":"` + level + `","message":{"text":"  Severity        : ` + msgSeverity + `\n"}}]}]}`)
	}
	for _, tc := range []struct {
		name, props, level, msg string
		want                    imagev1.Severity
	}{
		{"cvssV3_severity first", `,"cvssV3_severity":"CRITICAL","tags":["HIGH"]`, "warning", "LOW", imagev1.Severity_SEVERITY_CRITICAL},
		{"then tags[0]", `,"tags":["MEDIUM"]`, "error", "LOW", imagev1.Severity_SEVERITY_MEDIUM},
		{"then the message", ``, "error", "LOW", imagev1.Severity_SEVERITY_LOW},
		{"then the level", ``, "note", "", imagev1.Severity_SEVERITY_LOW},
		{"UNSPECIFIED is a word, not a gap", `,"cvssV3_severity":"UNSPECIFIED","tags":["HIGH"]`, "error", "HIGH", imagev1.Severity_SEVERITY_UNSPECIFIED},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep, err := Parse(doc(tc.props, tc.level, tc.msg))
			if err != nil {
				t.Fatal(err)
			}
			if got := rep.Findings[0].GetSeverity(); got != tc.want {
				t.Fatalf("severity %v, want %v", got, tc.want)
			}
		})
	}
}
