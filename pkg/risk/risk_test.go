package risk

import (
	"testing"

	imagev1 "github.com/scoutbridge/scoutbridge/gen/scoutbridge/image/v1"
)

func ptr(f float64) *float64 { return &f }

func TestNormalize(t *testing.T) {
	tests := []struct {
		name      string
		score     *float64
		sev       imagev1.Severity
		wantLevel string
		wantScore float64
	}{
		{"score 9.0 is critical even when the vendor says high", ptr(9.0), imagev1.Severity_SEVERITY_HIGH, "CRITICAL", 9.0},
		{"score 8.9 is high", ptr(8.9), imagev1.Severity_SEVERITY_CRITICAL, "HIGH", 8.9},
		{"score 7.0 is high", ptr(7.0), imagev1.Severity_SEVERITY_UNSPECIFIED, "HIGH", 7.0},
		{"score 6.9 is medium", ptr(6.9), imagev1.Severity_SEVERITY_UNSPECIFIED, "MEDIUM", 6.9},
		{"score 4.0 is medium", ptr(4.0), imagev1.Severity_SEVERITY_LOW, "MEDIUM", 4.0},
		{"score 0.1 is low", ptr(0.1), imagev1.Severity_SEVERITY_UNSPECIFIED, "LOW", 0.1},
		{"score 0 is none", ptr(0), imagev1.Severity_SEVERITY_HIGH, "NONE", 0},
		{"critical without score is 10.0", nil, imagev1.Severity_SEVERITY_CRITICAL, "CRITICAL", 10.0},
		{"high without score is 8.9", nil, imagev1.Severity_SEVERITY_HIGH, "HIGH", 8.9},
		{"medium without score is 6.9", nil, imagev1.Severity_SEVERITY_MEDIUM, "MEDIUM", 6.9},
		{"low without score is 3.9", nil, imagev1.Severity_SEVERITY_LOW, "LOW", 3.9},
		{"unspecified without score is none", nil, imagev1.Severity_SEVERITY_UNSPECIFIED, "NONE", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			level, score := Normalize(tt.score, tt.sev)
			if LevelName(level) != tt.wantLevel || score != tt.wantScore {
				t.Fatalf("got %s %.1f, want %s %.1f", LevelName(level), score, tt.wantLevel, tt.wantScore)
			}
			if ParseLevel(LevelName(level)) != level {
				t.Fatalf("ParseLevel(LevelName(%v)) does not round-trip", level)
			}
		})
	}
}

func TestOfFindingAndCounts(t *testing.T) {
	score := 9.8
	var c Counts
	for _, f := range []*imagev1.Finding{
		{Cvss: &imagev1.Cvss{Score: &score}, Severity: imagev1.Severity_SEVERITY_LOW}, // the score wins: CRITICAL
		{Severity: imagev1.Severity_SEVERITY_HIGH},                                    // no CVSS at all: HIGH
		{Cvss: &imagev1.Cvss{Vector: "CVSS:4.0/AV:N"}, Severity: imagev1.Severity_SEVERITY_MEDIUM},
		{},
	} {
		lvl, _ := OfFinding(f)
		c.Add(lvl)
	}
	if want := (Counts{Critical: 1, High: 1, Medium: 1, None: 1}); c != want || c.Total() != 4 {
		t.Fatalf("counts %+v, want %+v", c, want)
	}
}
