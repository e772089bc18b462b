package sarif

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/package-url/packageurl-go"

	imagev1 "github.com/scoutbridge/scoutbridge/gen/scoutbridge/image/v1"
)

var (
	// ErrMalformed means the output is not a SARIF report: the scan failed, nothing of it is kept.
	ErrMalformed = errors.New("malformed SARIF")
	// ErrUnsupported means a SARIF report this parser does not understand (not Docker Scout's shape).
	ErrUnsupported = errors.New("unsupported SARIF")
)

// Report is what a SARIF report says.
type Report struct {
	// ToolName and ToolVersion are the driver's, e.g. "docker scout" and "1.18.2".
	ToolName, ToolVersion string
	// Legacy is true for the Scout 0.x format (2023), parsed from its logical locations.
	Legacy bool
	// Findings holds one finding per result, in the report's order.
	Findings []*imagev1.Finding
}

// Parse reads a Docker Scout SARIF report. It takes the first JSON value of data and ignores anything
// after it (older Scout versions printed a "What's next" hint after the report). A report with no
// results is a valid report with zero findings; anything that is not a complete SARIF document with
// one run is ErrMalformed, never a partial report.
func Parse(data []byte) (*Report, error) {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return nil, fmt.Errorf("%w: empty output", ErrMalformed)
	}
	if trimmed[0] != '{' {
		return nil, fmt.Errorf("%w: output starts with %q, not a JSON object", ErrMalformed, excerpt(trimmed))
	}
	var doc document
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if len(doc.Runs) != 1 {
		return nil, fmt.Errorf("%w: %d runs, Docker Scout writes exactly one", ErrUnsupported, len(doc.Runs))
	}
	r := doc.Runs[0]
	d := r.Tool.Driver
	rep := &Report{
		ToolName:    d.Name,
		ToolVersion: strings.TrimPrefix(d.Version, "v"),
		Legacy:      strings.HasPrefix(strings.TrimPrefix(d.Version, "v"), "0.") || d.Name == "Scout",
		Findings:    make([]*imagev1.Finding, 0, len(r.Results)),
	}
	if d.FullName != "Docker Scout" && !strings.Contains(strings.ToLower(d.Name), "scout") {
		return nil, fmt.Errorf("%w: produced by %q, not Docker Scout", ErrUnsupported, d.Name)
	}
	byID := make(map[string]int, len(d.Rules))
	for i := range d.Rules {
		byID[d.Rules[i].ID] = i
	}
	seen := make(map[string]int, len(d.Rules)) // results so far per rule: the n-th result of a multi-purl rule
	for i := range r.Results {
		res := &r.Results[i]
		ri, ok := byID[res.RuleID]
		if !ok && res.RuleIndex != nil && *res.RuleIndex >= 0 && *res.RuleIndex < len(d.Rules) {
			ri, ok = *res.RuleIndex, true
		}
		if !ok {
			return nil, fmt.Errorf("%w: result %d refers to rule %q, which the report does not define", ErrMalformed, i, res.RuleID)
		}
		f, err := finding(&d.Rules[ri], res, seen[res.RuleID])
		if err != nil {
			return nil, fmt.Errorf("%w: result %d (%s): %v", ErrMalformed, i, res.RuleID, err)
		}
		seen[res.RuleID]++
		rep.Findings = append(rep.Findings, f)
	}
	return rep, nil
}

// finding builds the finding of one result; nth is how many results of the same rule came before.
func finding(ru *rule, res *result, nth int) (*imagev1.Finding, error) {
	m := parseMessage(res.Message.Text)
	p := &ru.Properties
	// The rule's own range and fix are only trustworthy when the rule is about one package.
	single := len(p.Purls) <= 1

	f := &imagev1.Finding{
		VulnerabilityId: firstNonEmpty(res.RuleID, m.vulnerability, ru.ID),
		Title:           ru.ShortDescription.Text,
		Description:     strings.TrimSpace(ru.Help.Text),
		HelpUri:         ru.HelpURI,
		Severity:        severity(p, m, res.Level),
		AffectedRange:   m.affected,
	}
	if f.AffectedRange == "" && single {
		f.AffectedRange = p.AffectedVersion
	}
	fixed := m.fixed
	if fixed == "" && single {
		fixed = p.FixedVersion
	}
	f.FixedVersions = fixedVersions(fixed)

	purl := ""
	if strings.HasPrefix(m.pkg, "pkg:") {
		purl = m.pkg
	} else if len(p.Purls) == 1 {
		purl = p.Purls[0]
	} else if len(p.Purls) > 1 {
		purl = p.Purls[min(nth, len(p.Purls)-1)]
	}
	for _, loc := range res.Locations {
		if u := loc.PhysicalLocation.ArtifactLocation.URI; u != "" {
			f.Locations = append(f.Locations, u)
		}
		for _, ll := range loc.LogicalLocations { // Scout 0.x
			switch n := ll.FullyQualifiedName; {
			case strings.HasPrefix(n, "pkg:"):
				if purl == "" {
					purl = n
				}
			case n != "":
				f.Locations = append(f.Locations, n)
			}
		}
	}
	if purl == "" {
		return nil, errors.New("no package: neither the message nor the rule names a purl")
	}
	pkg, err := decodePurl(purl)
	if err != nil {
		return nil, err
	}
	f.Package = pkg

	cv, err := cvss(p, m)
	if err != nil {
		return nil, err
	}
	f.Cvss = cv
	if m.epssScore != "" {
		s, err1 := strconv.ParseFloat(m.epssScore, 64)
		pc, err2 := strconv.ParseFloat(firstNonEmpty(m.epssPercentile, "0"), 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("EPSS %q / %q is not a number", m.epssScore, m.epssPercentile)
		}
		f.Epss = &imagev1.Epss{Score: s, Percentile: pc}
	}
	return f, nil
}

// decodePurl decodes a purl with the purl library (percent-decoding, qualifiers, namespaces).
func decodePurl(s string) (*imagev1.Package, error) {
	u, err := packageurl.FromString(s)
	if err != nil {
		return nil, fmt.Errorf("package %q: %v", s, err)
	}
	return &imagev1.Package{Purl: s, Type: u.Type, Namespace: u.Namespace, Name: u.Name, Version: u.Version}, nil
}

// severity is the vendor's word: cvssV3_severity, else tags[0], else the message's (Scout 0.x has
// neither property), else the level.
func severity(p *ruleProperties, m messageFacts, level string) imagev1.Severity {
	for _, w := range []string{p.CVSSv3Severity, first(p.Tags), m.severity} {
		if s, ok := severityWord(w); ok {
			return s
		}
	}
	switch level {
	case "error":
		return imagev1.Severity_SEVERITY_HIGH
	case "warning":
		return imagev1.Severity_SEVERITY_MEDIUM
	case "note":
		return imagev1.Severity_SEVERITY_LOW
	}
	return imagev1.Severity_SEVERITY_UNSPECIFIED
}

func severityWord(w string) (imagev1.Severity, bool) {
	switch strings.ToUpper(strings.TrimSpace(w)) {
	case "CRITICAL":
		return imagev1.Severity_SEVERITY_CRITICAL, true
	case "HIGH":
		return imagev1.Severity_SEVERITY_HIGH, true
	case "MEDIUM":
		return imagev1.Severity_SEVERITY_MEDIUM, true
	case "LOW":
		return imagev1.Severity_SEVERITY_LOW, true
	case "UNSPECIFIED":
		return imagev1.Severity_SEVERITY_UNSPECIFIED, true
	}
	return 0, false
}

// cvss takes score and vector from the message, else from the rule (cvssV3, then the security-severity
// string). The version comes from the vector's "CVSS:x.y/" prefix: cvssV3_vector may hold CVSS 4.0.
func cvss(p *ruleProperties, m messageFacts) (*imagev1.Cvss, error) {
	c := &imagev1.Cvss{Vector: firstNonEmpty(m.cvssVector, p.CVSSv3Vector)}
	switch {
	case m.cvssScore != "":
		s, err := strconv.ParseFloat(m.cvssScore, 64)
		if err != nil {
			return nil, fmt.Errorf("CVSS score %q is not a number", m.cvssScore)
		}
		c.Score = &s
	case p.CVSSv3 != nil:
		s := *p.CVSSv3
		c.Score = &s
	case p.SecuritySeverity != "":
		s, err := strconv.ParseFloat(p.SecuritySeverity, 64)
		if err != nil {
			return nil, fmt.Errorf("security-severity %q is not a number", p.SecuritySeverity)
		}
		if s > 0 {
			c.Score = &s
		}
	}
	if v, ok := strings.CutPrefix(c.Vector, "CVSS:"); ok {
		c.Version, _, _ = strings.Cut(v, "/")
	}
	if c.Score == nil && c.Vector == "" {
		return nil, nil
	}
	return c, nil
}

// fixedVersions: "not fixed" (or nothing) is no fix; a list "1.2.3, 1.3.1" is split.
func fixedVersions(s string) []string {
	s = strings.TrimSpace(s)
	if s == "" || strings.EqualFold(s, "not fixed") {
		return nil
	}
	var out []string
	for v := range strings.SplitSeq(s, ", ") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

func excerpt(b []byte) string {
	if len(b) > 40 {
		b = b[:40]
	}
	return string(b)
}
