package store

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	imagev1 "github.com/scoutbridge/scoutbridge/gen/scoutbridge/image/v1"
	"github.com/scoutbridge/scoutbridge/services/ingest/internal/semdict"
)

// BenchmarkListFindings pages (100 per page) through a store of 100,000 findings from 500 scans of
// 500 repositories with each filter ListFindings offers, including one that matches nothing.
func BenchmarkListFindings(b *testing.B) {
	s, err := Open(b.Context(), filepath.Join(b.TempDir(), "ingest.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	vulns := make([]string, 200)
	for i := range vulns {
		vulns[i] = fmt.Sprintf("CVE-2026-%05d", i)
	}
	for i := range 500 {
		r := report(fmt.Sprintf("scan-%03d", i), fmt.Sprintf("acme/svc%03d", i), 'a', vulns...)
		r.Image.Digest = fmt.Sprintf("sha256:%064x", i+1)
		r.Image.Platforms[0].Digest = fmt.Sprintf("sha256:%064x", 100000+i)
		r.CompletedAt = nil
		if _, err := s.Ingest(b.Context(), mustMap(b, r), []string{"dt"}); err != nil {
			b.Fatal(err)
		}
	}
	day := time.Now().UTC().Truncate(24 * time.Hour)
	for _, tt := range []struct {
		name string
		f    Filter
	}{
		{"none", Filter{}},
		{"repository", Filter{Repository: "acme/svc042"}},
		{"digest", Filter{Digest: fmt.Sprintf("sha256:%064x", 43)}},
		{"platform-digest", Filter{Digest: fmt.Sprintf("sha256:%064x", 100042)}},
		{"vulnerability", Filter{VulnerabilityID: "CVE-2026-00042"}},
		{"risk-level", Filter{RiskLevel: imagev1.RiskLevel_RISK_LEVEL_LOW}},
		{"provider-absent", Filter{Provider: "Trivy"}},
		{"time-range", Filter{DetectedAfter: day, DetectedBefore: day.Add(24 * time.Hour)}},
		{"repository+vulnerability", Filter{Repository: "acme/svc042", VulnerabilityID: "CVE-2026-00042"}},
	} {
		b.Run(tt.name, func(b *testing.B) {
			tt.f.PageSize = 100
			for b.Loop() {
				if _, _, err := s.ListFindings(b.Context(), tt.f); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func mustMap(b testing.TB, r *imagev1.ScanReport) *semdict.Batch {
	batch, err := semdict.Map(r, semdict.Options{})
	if err != nil {
		b.Fatal(err)
	}
	return batch
}
