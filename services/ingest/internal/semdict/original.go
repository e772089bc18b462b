package semdict

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	imagev1 "github.com/scoutbridge/scoutbridge/gen/scoutbridge/image/v1"
)

// DefaultOriginalContentCap bounds event.original_content (bytes).
const DefaultOriginalContentCap = 4096

// truncatedMarker ends an event.original_content that was cut.
const truncatedMarker = "…[truncated by scoutbridge: %d of %d bytes kept]"

// originalFinding is the finding as the scanner reported it. The advisory text and the file locations
// are left out: they travel once, in vulnerability.description and artifact.paths (Dynatrace bills
// ingest by volume).
type originalFinding struct {
	VulnerabilityID string   `json:"vulnerability_id"`
	Title           string   `json:"title,omitempty"`
	Severity        string   `json:"severity,omitempty"`
	CVSSScore       *float64 `json:"cvss_score,omitempty"`
	CVSSVersion     string   `json:"cvss_version,omitempty"`
	CVSSVector      string   `json:"cvss_vector,omitempty"`
	EPSSScore       *float64 `json:"epss_score,omitempty"`
	EPSSPercentile  *float64 `json:"epss_percentile,omitempty"`
	PURL            string   `json:"purl,omitempty"`
	AffectedRange   string   `json:"affected_range,omitempty"`
	FixedVersions   []string `json:"fixed_versions,omitempty"`
	Locations       int      `json:"locations"`
	HelpURI         string   `json:"help_uri,omitempty"`
}

func originalOfFinding(f *imagev1.Finding) any {
	o := originalFinding{
		VulnerabilityID: f.GetVulnerabilityId(),
		Title:           f.GetTitle(),
		Severity:        severityWord(f.GetSeverity()),
		CVSSVersion:     f.GetCvss().GetVersion(),
		CVSSVector:      f.GetCvss().GetVector(),
		PURL:            f.GetPackage().GetPurl(),
		AffectedRange:   f.GetAffectedRange(),
		FixedVersions:   f.GetFixedVersions(),
		Locations:       len(f.GetLocations()),
		HelpURI:         f.GetHelpUri(),
	}
	if f.GetCvss() != nil && f.GetCvss().Score != nil {
		s := f.GetCvss().GetScore()
		o.CVSSScore = &s
	}
	if e := f.GetEpss(); e != nil {
		s, p := e.GetScore(), e.GetPercentile()
		o.EPSSScore, o.EPSSPercentile = &s, &p
	}
	return o
}

type originalScan struct {
	ScanID         string   `json:"scan_id"`
	Scanner        string   `json:"scanner,omitempty"`
	ScannerVersion string   `json:"scanner_version,omitempty"`
	Registry       string   `json:"registry"`
	Repository     string   `json:"repository"`
	Digest         string   `json:"digest"`
	Tags           []string `json:"tags,omitempty"`
	MediaType      string   `json:"media_type,omitempty"`
	Platforms      []string `json:"platforms,omitempty"`
	Platform       string   `json:"platform,omitempty"`
	Status         string   `json:"status"`
	StartedAt      string   `json:"started_at,omitempty"`
	CompletedAt    string   `json:"completed_at,omitempty"`
	OSName         string   `json:"os_name,omitempty"`
	OSVersion      string   `json:"os_version,omitempty"`
	Packages       int64    `json:"sbom_packages,omitempty"`
	Findings       int      `json:"findings"`
}

func originalOfScan(r *imagev1.ScanReport) any {
	img := r.GetImage()
	o := originalScan{
		ScanID:         r.GetScanId(),
		Scanner:        r.GetScanner().GetName(),
		ScannerVersion: r.GetScanner().GetVersion(),
		Registry:       img.GetRegistry(),
		Repository:     img.GetRepository(),
		Digest:         img.GetDigest(),
		Tags:           img.GetTags(),
		MediaType:      img.GetMediaType(),
		Platform:       r.GetPlatform(),
		Status:         r.GetStatus().String(),
		OSName:         r.GetSbom().GetOsName(),
		OSVersion:      r.GetSbom().GetOsVersion(),
		Packages:       r.GetSbom().GetPackageCount(),
		Findings:       len(r.GetFindings()),
	}
	for _, p := range img.GetPlatforms() {
		o.Platforms = append(o.Platforms, fmt.Sprintf("%s/%s %s", p.GetOs(), p.GetArchitecture(), p.GetDigest()))
	}
	if r.GetStartedAt() != nil {
		o.StartedAt = rfc3339(r.GetStartedAt().AsTime())
	}
	if r.GetCompletedAt() != nil {
		o.CompletedAt = rfc3339(r.GetCompletedAt().AsTime())
	}
	return o
}

// originalContent encodes v as a JSON string of at most limit bytes; a longer one is cut at a rune
// boundary and ends with a marker that says how much was kept.
func originalContent(v any, limit int) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return ""
	}
	return capString(strings.TrimSuffix(buf.String(), "\n"), limit)
}

func capString(s string, limit int) string {
	if limit <= 0 || len(s) <= limit {
		return s
	}
	keep := max(limit-len(fmt.Sprintf(truncatedMarker, len(s), len(s))), 0)
	for keep > 0 && !utf8.RuneStart(s[keep]) {
		keep--
	}
	return s[:keep] + fmt.Sprintf(truncatedMarker, keep, len(s))
}
