package semdict

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	imagev1 "github.com/scoutbridge/scoutbridge/gen/scoutbridge/image/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.json")

const testDigest = "sha256:4bd7a1c2e3f405162738495a6b7c8d9e0f1a2b3c4d5e6f708192a3b4c5d66e93"

func baseReport(findings ...*imagev1.Finding) *imagev1.ScanReport {
	return &imagev1.ScanReport{
		ScanId: "scan-0001",
		Image: &imagev1.Image{
			Registry: "docker.io", Repository: "acme/api", Digest: testDigest,
			Tags:      []string{"latest", "1.2.0"},
			MediaType: "application/vnd.oci.image.index.v1+json",
			Platforms: []*imagev1.Platform{{Os: "linux", Architecture: "amd64", Digest: "sha256:" + strings.Repeat("a", 64)}},
		},
		Scanner:     &imagev1.Scanner{Name: "Docker Scout", Version: "1.18.2"},
		StartedAt:   timestamppb.New(time.Date(2026, 11, 20, 18, 2, 40, 0, time.UTC)),
		CompletedAt: timestamppb.New(time.Date(2026, 11, 20, 18, 3, 11, 0, time.UTC)),
		Status:      imagev1.ScanStatus_SCAN_STATUS_COMPLETED,
		Sbom:        &imagev1.SbomSummary{OsName: "debian", OsVersion: "12", PackageCount: 412, Platform: "linux/amd64"},
		Platform:    "linux/amd64",
		Findings:    findings,
	}
}

func score(v float64) *float64 { return &v }

func osPackageFinding() *imagev1.Finding {
	return &imagev1.Finding{
		VulnerabilityId: "CVE-2023-45853",
		Title:           "CVE-2023-45853: Integer Overflow or Wraparound",
		Description:     "MiniZip in zlib through 1.3 has an integer overflow and resultant heap-based buffer overflow in zipOpenNewFileInZip4_64.",
		Severity:        imagev1.Severity_SEVERITY_CRITICAL,
		Cvss:            &imagev1.Cvss{Score: score(9.8), Version: "3.1", Vector: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"},
		Epss:            &imagev1.Epss{Score: 0.0121, Percentile: 0.85},
		Package: &imagev1.Package{Purl: "pkg:deb/debian/zlib@1:1.2.13.dfsg-1?os_distro=bookworm&os_name=debian&os_version=12",
			Type: "deb", Namespace: "debian", Name: "zlib", Version: "1:1.2.13.dfsg-1"},
		AffectedRange: ">=1:1.2.13.dfsg-1",
		Locations:     []string{"/var/lib/dpkg/status"},
		HelpUri:       "https://scout.docker.com/v/CVE-2023-45853",
	}
}

func npmFinding(name, version, fix string, locs ...string) *imagev1.Finding {
	return &imagev1.Finding{
		VulnerabilityId: "CVE-2021-3807",
		Title:           "CVE-2021-3807: Inefficient Regular Expression Complexity",
		Description:     "ansi-regex is vulnerable to Inefficient Regular Expression Complexity",
		Severity:        imagev1.Severity_SEVERITY_HIGH,
		Cvss:            &imagev1.Cvss{Score: score(7.5), Version: "3.1", Vector: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"},
		Package:         &imagev1.Package{Purl: "pkg:npm/" + name + "@" + version, Type: "npm", Name: name, Version: version},
		AffectedRange:   ">=3.0.0,<3.0.1",
		FixedVersions:   []string{fix},
		Locations:       locs,
		HelpUri:         "https://scout.docker.com/v/CVE-2021-3807",
	}
}

func TestMapGolden(t *testing.T) {
	multi1 := npmFinding("ansi-regex", "3.0.0", "3.0.1", "/usr/local/lib/node_modules/npm/node_modules/string-width/node_modules/ansi-regex/package.json")
	multi2 := npmFinding("ansi-regex", "5.0.0", "5.0.1", "/usr/local/lib/node_modules/npm/node_modules/ansi-regex/package.json", "/app/node_modules/ansi-regex/package.json")
	noCVSS := &imagev1.Finding{
		VulnerabilityId: "CVE-2005-2541", Title: "CVE-2005-2541",
		Description: "Tar 1.15.1 does not properly warn the user when extracting setuid or setgid files.",
		Severity:    imagev1.Severity_SEVERITY_HIGH,
		Package: &imagev1.Package{Purl: "pkg:deb/debian/tar@1.34%2Bdfsg-1.2%2Bdeb12u1?os_distro=bookworm",
			Type: "deb", Namespace: "debian", Name: "tar", Version: "1.34+dfsg-1.2+deb12u1"},
		AffectedRange: ">=1.34+dfsg-1.2+deb12u1",
		Locations:     []string{"/var/lib/dpkg/status"},
	}
	cvss4 := &imagev1.Finding{
		VulnerabilityId: "GHSA-3xgq-45jj-v275", Title: "GHSA-3xgq-45jj-v275: cross-spawn ReDoS",
		Description:   "Versions of the package cross-spawn before 7.0.5 are vulnerable to Regular Expression Denial of Service.",
		Severity:      imagev1.Severity_SEVERITY_HIGH,
		Cvss:          &imagev1.Cvss{Score: score(6.9), Vector: "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:L/SC:N/SI:N/SA:N"},
		Package:       &imagev1.Package{Purl: "pkg:npm/%40isaacs/cross-spawn@7.0.3", Type: "npm", Namespace: "@isaacs", Name: "cross-spawn", Version: "7.0.3", Supplier: "Isaac Z. Schlueter"},
		FixedVersions: []string{"7.0.5", "6.0.6"},
		Locations:     []string{"/app/node_modules/@isaacs/cross-spawn/package.json"},
	}
	tests := map[string]*imagev1.ScanReport{
		"os_package":             baseReport(osPackageFinding()),
		"npm":                    baseReport(npmFinding("ansi-regex", "3.0.0", "3.0.1", "/usr/local/lib/node_modules/npm/node_modules/string-width/node_modules/ansi-regex/package.json")),
		"multi_package_advisory": baseReport(multi1, multi2),
		"no_cvss":                baseReport(noCVSS),
		"cvss4":                  baseReport(cvss4),
		"no_findings":            baseReport(),
	}
	for name, report := range tests {
		t.Run(name, func(t *testing.T) {
			b, err := Map(report, Options{})
			if err != nil {
				t.Fatal(err)
			}
			got := encodeBatch(t, b)
			path := filepath.Join("testdata", name+".golden.json")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("events differ from %s (run go test -update after checking):\n%s", path, got)
			}
		})
	}
}

func encodeBatch(t *testing.T, b *Batch) []byte {
	t.Helper()
	var raw bytes.Buffer
	raw.WriteByte('[')
	raw.Write(b.Scan.Event.AppendJSON(nil))
	for _, f := range b.Findings {
		raw.WriteByte(',')
		raw.Write(f.Event.AppendJSON(nil))
	}
	raw.WriteByte(']')
	if !json.Valid(raw.Bytes()) {
		t.Fatalf("invalid JSON: %s", raw.Bytes())
	}
	var out bytes.Buffer
	if err := json.Indent(&out, raw.Bytes(), "", "  "); err != nil {
		t.Fatal(err)
	}
	out.WriteByte('\n')
	return out.Bytes()
}

func TestNormalizationAndVendorValues(t *testing.T) {
	tests := []struct {
		name      string
		sev       imagev1.Severity
		cvss      *float64
		wantLevel string
		wantScore float64
	}{
		{"a score decides the band even when the vendor's word disagrees", imagev1.Severity_SEVERITY_LOW, score(9.1), "CRITICAL", 9.1},
		{"a severity alone gives Dynatrace's fixed score", imagev1.Severity_SEVERITY_HIGH, nil, "HIGH", 8.9},
		{"no severity and no score is NONE", imagev1.Severity_SEVERITY_UNSPECIFIED, nil, "NONE", 0},
		{"a zero score is NONE", imagev1.Severity_SEVERITY_MEDIUM, score(0), "NONE", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := osPackageFinding()
			f.Severity = tt.sev
			f.Cvss = nil
			if tt.cvss != nil {
				f.Cvss = &imagev1.Cvss{Score: tt.cvss}
			}
			b, err := Map(baseReport(f), Options{})
			if err != nil {
				t.Fatal(err)
			}
			e := &b.Findings[0].Event
			if got := e.String("dt.security.risk.level"); got != tt.wantLevel {
				t.Errorf("risk level %s, want %s", got, tt.wantLevel)
			}
			if got, _ := e.Get("dt.security.risk.score"); got != tt.wantScore {
				t.Errorf("risk score %v, want %v", got, tt.wantScore)
			}
			if got := e.String("finding.severity"); got != severityWord(tt.sev) {
				t.Errorf("finding.severity %s, want the vendor's %s", got, severityWord(tt.sev))
			}
			if _, has := e.Get("finding.score"); has != (tt.cvss != nil) {
				t.Errorf("finding.score present=%v, want %v", has, tt.cvss != nil)
			}
		})
	}
}

func TestIDs(t *testing.T) {
	r1 := baseReport(osPackageFinding())
	r2 := proto.Clone(r1).(*imagev1.ScanReport)
	r2.ScanId = "scan-0002"
	r2.Image.Tags = []string{"other"}
	b1, _ := Map(r1, Options{})
	b1again, _ := Map(r1, Options{})
	b2, _ := Map(r2, Options{})
	if b1.Findings[0].FindingID != b2.Findings[0].FindingID {
		t.Error("finding.id changed between scans of the same image, vulnerability and package")
	}
	if b1.Findings[0].EventID != b1again.Findings[0].EventID || b1.Scan.EventID != b1again.Scan.EventID {
		t.Error("event.id is not deterministic for the same scan and finding")
	}
	if b1.Findings[0].EventID == b2.Findings[0].EventID || b1.Scan.EventID == b2.Scan.EventID {
		t.Error("two scans produced the same event.id")
	}
	other := proto.Clone(r1).(*imagev1.ScanReport)
	other.Image.Digest = "sha256:" + strings.Repeat("b", 64)
	b3, _ := Map(other, Options{})
	if b3.Findings[0].FindingID == b1.Findings[0].FindingID {
		t.Error("another digest gave the same finding.id")
	}
}

func TestRequiredFieldsRejectTheReport(t *testing.T) {
	tests := []struct {
		name      string
		edit      func(r *imagev1.ScanReport)
		wantField string
	}{
		{"no scan id", func(r *imagev1.ScanReport) { r.ScanId = "" }, "report.scan_id"},
		{"no repository", func(r *imagev1.ScanReport) { r.Image.Repository = "" }, "report.image.repository"},
		{"no digest", func(r *imagev1.ScanReport) { r.Image.Digest = "" }, "report.image.digest"},
		{"a tag instead of a digest", func(r *imagev1.ScanReport) { r.Image.Digest = "latest" }, "report.image.digest"},
		{"a finding without package name", func(r *imagev1.ScanReport) { r.Findings[1].Package.Name = "" }, "report.findings[1].package.name"},
		{"a finding without vulnerability id", func(r *imagev1.ScanReport) { r.Findings[0].VulnerabilityId = "" }, "report.findings[0].vulnerability_id"},
		{"a CVSS score above 10", func(r *imagev1.ScanReport) { r.Findings[0].Cvss.Score = score(11) }, "report.findings[0].cvss.score"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := baseReport(osPackageFinding(), npmFinding("ansi-regex", "3.0.0", "3.0.1"))
			tt.edit(r)
			_, err := Map(r, Options{})
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tt.wantField {
				t.Fatalf("error %v, want a FieldError naming %s", err, tt.wantField)
			}
		})
	}
	if _, err := Map(baseReport(osPackageFinding()), Options{}); err != nil {
		t.Fatalf("a valid report was refused: %v", err)
	}
}

func TestRepeatedFindingIsOneEventWithMergedLocations(t *testing.T) {
	b, err := Map(baseReport(npmFinding("ansi-regex", "3.0.0", "3.0.1", "/b/package.json"), npmFinding("ansi-regex", "3.0.0", "3.0.1", "/a/package.json")), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Findings) != 1 {
		t.Fatalf("%d findings, want 1", len(b.Findings))
	}
	paths, _ := b.Findings[0].Event.Get("artifact.paths")
	if got := strings.Join(paths.([]string), ","); got != "/a/package.json,/b/package.json" {
		t.Errorf("artifact.paths %s", got)
	}
	if b.Findings[0].Event.String("artifact.path") != "/a/package.json" {
		t.Errorf("artifact.path %s", b.Findings[0].Event.String("artifact.path"))
	}
}

func TestOriginalContentIsCappedWithAMarker(t *testing.T) {
	f := osPackageFinding()
	f.Title = strings.Repeat("ü", 3000)
	b, err := Map(baseReport(f), Options{OriginalContentCap: 1000})
	if err != nil {
		t.Fatal(err)
	}
	oc := b.Findings[0].Event.String("event.original_content")
	if len(oc) > 1000 || !strings.Contains(oc, "[truncated by scoutbridge:") {
		t.Fatalf("original content %d bytes, ends %q", len(oc), oc[max(0, len(oc)-80):])
	}
	small, _ := Map(baseReport(osPackageFinding()), Options{})
	if oc := small.Findings[0].Event.String("event.original_content"); !json.Valid([]byte(oc)) {
		t.Fatalf("uncut original content is not JSON: %s", oc)
	}
}

func TestStringEscaping(t *testing.T) {
	for _, s := range []string{"plain", "quote \" back \\ slash", "ctl \x01\n\t\r\x7f", "bad utf8 \xff end", "ünïcødé ☃", "<html>&", "\xe2\x82"} {
		checkEscaping(t, s)
	}
}

// FuzzStringEscaping compares appendString's table-driven fast path with encoding/json.
func FuzzStringEscaping(f *testing.F) {
	f.Add("plain")
	f.Add("quote \" \\ \x00 \xff ☃")
	f.Fuzz(checkEscaping)
}

func checkEscaping(t *testing.T, s string) {
	got := appendString(nil, s)
	var back string
	if err := json.Unmarshal(got, &back); err != nil {
		t.Fatalf("%q encoded as invalid JSON %s: %v", s, got, err)
	}
	want, _ := json.Marshal(s)
	var wantBack string
	_ = json.Unmarshal(want, &wantBack)
	if back != wantBack {
		t.Errorf("%q round-tripped to %q, want %q", s, back, wantBack)
	}
}
