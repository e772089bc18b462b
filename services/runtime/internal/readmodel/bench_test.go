package readmodel

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	imagev1 "github.com/scoutbridge/scoutbridge/gen/scoutbridge/image/v1"
)

func benchReports(from int64, n int) []Report {
	out := make([]Report, n)
	for i := range out {
		seq := from + int64(i)
		img := seq / 100
		out[i] = Report{Sequence: seq, Registry: "docker.io", Repository: fmt.Sprintf("acme/repo-%03d", img/20),
			Digest: fmt.Sprintf("sha256:a%063d", img), PlatformDigests: []string{fmt.Sprintf("sha256:b%063d", img)}, Tags: []string{"1.0"},
			VulnerabilityID: fmt.Sprintf("CVE-2026-%05d", seq%5000), Title: "t", Provider: "Docker Scout", PackageName: fmt.Sprintf("pkg-%03d", seq%200),
			PackageVersion: "1.0", RiskLevel: imagev1.RiskLevel_RISK_LEVEL_CRITICAL, RiskScore: 9.5, DetectedAt: refT.Add(-time.Duration(seq) * time.Second)}
	}
	return out
}

// BenchmarkApply measures following ingest: one ExportFindings batch of 5,000 findings stored in SQLite
// and the index.
func BenchmarkApply(b *testing.B) {
	s, err := Open(context.Background(), filepath.Join(b.TempDir(), "runtime.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	next := int64(1)
	for b.Loop() {
		if err := s.Apply(context.Background(), benchReports(next, 5000)); err != nil {
			b.Fatal(err)
		}
		next += 5000
	}
}

// BenchmarkOpenMillion measures a restart: loading 1,000,000 findings from SQLite into the index.
// Filling the database takes minutes, so it runs only with SCOUTBRIDGE_BENCH_LOAD=1.
func BenchmarkOpenMillion(b *testing.B) {
	if os.Getenv("SCOUTBRIDGE_BENCH_LOAD") != "1" {
		b.Skip("set SCOUTBRIDGE_BENCH_LOAD=1")
	}
	path := filepath.Join(b.TempDir(), "runtime.db")
	s, err := Open(context.Background(), path)
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	for from := int64(1); from <= 1_000_000; from += 10_000 {
		if err := s.Apply(context.Background(), benchReports(from, 10_000)); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("stored 1,000,000 findings in %s", time.Since(start).Round(time.Second))
	s.Close()
	for b.Loop() {
		s, err := Open(context.Background(), path)
		if err != nil {
			b.Fatal(err)
		}
		s.Close()
	}
}
