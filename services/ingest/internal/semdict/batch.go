package semdict

import (
	"time"

	imagev1 "github.com/scoutbridge/scoutbridge/gen/scoutbridge/image/v1"
	"github.com/scoutbridge/scoutbridge/pkg/risk"
)

// Batch is everything one report becomes: its scan event, its finding events, and the facts the store
// indexes, so nobody has to parse the events back.
type Batch struct {
	ScanID          string
	Registry        string
	Repository      string
	Digest          string
	Tags            []string
	PlatformDigests []string
	Provider        string
	CompletedAt     time.Time
	Scan            ScanEvent
	Findings        []FindingEvent
	Counts          Counts
}

// ScanEvent is the VULNERABILITY_SCAN event of a report.
type ScanEvent struct {
	EventID string
	Event   Event
}

// FindingEvent is one VULNERABILITY_FINDING event and its indexed facts.
type FindingEvent struct {
	FindingID       string
	EventID         string
	VulnerabilityID string
	Title           string
	PackageName     string
	PackageVersion  string
	PURL            string
	Severity        string
	RiskLevel       imagev1.RiskLevel
	RiskScore       float64
	FixedVersions   []string
	DetectedAt      time.Time
	Event           Event
}

// Counts counts a scan's findings by normalized risk level.
type Counts = risk.Counts
