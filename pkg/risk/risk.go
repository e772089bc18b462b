// Package risk is Dynatrace's normalization of vendor severities and scores (dt.security.risk.level and
// dt.security.risk.score). Every service that counts or filters by risk uses this one definition.
package risk

import (
	"strings"

	imagev1 "github.com/scoutbridge/scoutbridge/gen/scoutbridge/image/v1"
)

// Normalize maps a vendor's score and severity onto Dynatrace's scale. With a score, the score is kept
// and the level follows the bands (9.0–10 CRITICAL, 7.0–8.9 HIGH, 4.0–6.9 MEDIUM, 0.1–3.9 LOW, 0 NONE);
// with only a severity, the level is the severity and the score is fixed (10.0, 8.9, 6.9, 3.9, 0.0).
func Normalize(score *float64, sev imagev1.Severity) (imagev1.RiskLevel, float64) {
	if score != nil {
		return FromScore(*score), *score
	}
	switch sev {
	case imagev1.Severity_SEVERITY_CRITICAL:
		return imagev1.RiskLevel_RISK_LEVEL_CRITICAL, 10.0
	case imagev1.Severity_SEVERITY_HIGH:
		return imagev1.RiskLevel_RISK_LEVEL_HIGH, 8.9
	case imagev1.Severity_SEVERITY_MEDIUM:
		return imagev1.RiskLevel_RISK_LEVEL_MEDIUM, 6.9
	case imagev1.Severity_SEVERITY_LOW:
		return imagev1.RiskLevel_RISK_LEVEL_LOW, 3.9
	default:
		return imagev1.RiskLevel_RISK_LEVEL_NONE, 0.0
	}
}

// OfFinding normalizes a scanner's finding: its CVSS score when it has one, else its severity.
func OfFinding(f *imagev1.Finding) (imagev1.RiskLevel, float64) {
	return Normalize(VendorScore(f), f.GetSeverity())
}

// VendorScore is the finding's CVSS score, nil when the vendor gave none.
func VendorScore(f *imagev1.Finding) *float64 {
	if c := f.GetCvss(); c != nil && c.Score != nil {
		s := *c.Score
		return &s
	}
	return nil
}

// Counts counts findings by normalized risk level.
type Counts struct {
	Critical, High, Medium, Low, None int64
}

// Add counts one finding of level l (anything below LOW counts as None).
func (c *Counts) Add(l imagev1.RiskLevel) {
	switch l {
	case imagev1.RiskLevel_RISK_LEVEL_CRITICAL:
		c.Critical++
	case imagev1.RiskLevel_RISK_LEVEL_HIGH:
		c.High++
	case imagev1.RiskLevel_RISK_LEVEL_MEDIUM:
		c.Medium++
	case imagev1.RiskLevel_RISK_LEVEL_LOW:
		c.Low++
	default:
		c.None++
	}
}

// Total is the number of findings counted.
func (c Counts) Total() int64 { return c.Critical + c.High + c.Medium + c.Low + c.None }

// FromScore is the level band of a score.
func FromScore(score float64) imagev1.RiskLevel {
	switch {
	case score >= 9.0:
		return imagev1.RiskLevel_RISK_LEVEL_CRITICAL
	case score >= 7.0:
		return imagev1.RiskLevel_RISK_LEVEL_HIGH
	case score >= 4.0:
		return imagev1.RiskLevel_RISK_LEVEL_MEDIUM
	case score > 0:
		return imagev1.RiskLevel_RISK_LEVEL_LOW
	default:
		return imagev1.RiskLevel_RISK_LEVEL_NONE
	}
}

// LevelName is the level as Dynatrace writes it: CRITICAL, HIGH, MEDIUM, LOW, NONE, or NOT_AVAILABLE.
func LevelName(l imagev1.RiskLevel) string {
	switch l {
	case imagev1.RiskLevel_RISK_LEVEL_CRITICAL:
		return "CRITICAL"
	case imagev1.RiskLevel_RISK_LEVEL_HIGH:
		return "HIGH"
	case imagev1.RiskLevel_RISK_LEVEL_MEDIUM:
		return "MEDIUM"
	case imagev1.RiskLevel_RISK_LEVEL_LOW:
		return "LOW"
	case imagev1.RiskLevel_RISK_LEVEL_NONE:
		return "NONE"
	default:
		return "NOT_AVAILABLE"
	}
}

// ParseLevel reads a level name (any case, with or without the RISK_LEVEL_ prefix).
func ParseLevel(s string) imagev1.RiskLevel {
	s = strings.TrimPrefix(strings.ToUpper(strings.TrimSpace(s)), "RISK_LEVEL_")
	switch s {
	case "CRITICAL":
		return imagev1.RiskLevel_RISK_LEVEL_CRITICAL
	case "HIGH":
		return imagev1.RiskLevel_RISK_LEVEL_HIGH
	case "MEDIUM":
		return imagev1.RiskLevel_RISK_LEVEL_MEDIUM
	case "LOW":
		return imagev1.RiskLevel_RISK_LEVEL_LOW
	case "NONE":
		return imagev1.RiskLevel_RISK_LEVEL_NONE
	default:
		return imagev1.RiskLevel_RISK_LEVEL_UNSPECIFIED
	}
}

// SeverityName is the vendor severity as Scout writes it: CRITICAL, HIGH, MEDIUM, LOW or UNSPECIFIED.
func SeverityName(s imagev1.Severity) string {
	switch s {
	case imagev1.Severity_SEVERITY_CRITICAL:
		return "CRITICAL"
	case imagev1.Severity_SEVERITY_HIGH:
		return "HIGH"
	case imagev1.Severity_SEVERITY_MEDIUM:
		return "MEDIUM"
	case imagev1.Severity_SEVERITY_LOW:
		return "LOW"
	default:
		return "UNSPECIFIED"
	}
}

// ParseSeverity reads a vendor severity word (any case); unknown words are UNSPECIFIED.
func ParseSeverity(s string) imagev1.Severity {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "CRITICAL":
		return imagev1.Severity_SEVERITY_CRITICAL
	case "HIGH":
		return imagev1.Severity_SEVERITY_HIGH
	case "MEDIUM", "MODERATE":
		return imagev1.Severity_SEVERITY_MEDIUM
	case "LOW":
		return imagev1.Severity_SEVERITY_LOW
	default:
		return imagev1.Severity_SEVERITY_UNSPECIFIED
	}
}
