package server

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	imagev1 "github.com/scoutbridge/scoutbridge/gen/scoutbridge/image/v1"
	triagev1 "github.com/scoutbridge/scoutbridge/gen/scoutbridge/triage/v1"
	"github.com/scoutbridge/scoutbridge/services/runtime/internal/inventory"
	"github.com/scoutbridge/scoutbridge/services/runtime/internal/readmodel"
)

// The benchmark set: 1,000,000 findings over 10,000 digests (500 repositories of 20 digests, 100
// findings each, drawn from 5,000 vulnerabilities and 200 packages, reported over 7 days, 10 %
// critical), of which 2,000 run (half in production, 30 % staging, 20 % without a stage; half of the
// containers report a platform digest).
const (
	benchDigests  = 10_000
	benchPerImage = 100
	benchRunning  = 2_000
)

func benchDigest(kind string, i int) string { return fmt.Sprintf("sha256:%s%060d", kind, i) }

func benchServer(b *testing.B) *Server {
	b.Helper()
	store, err := readmodel.Open(context.Background(), ":memory:")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { store.Close() })
	rng := rand.New(rand.NewPCG(1, 2))
	levels := []imagev1.RiskLevel{imagev1.RiskLevel_RISK_LEVEL_CRITICAL, imagev1.RiskLevel_RISK_LEVEL_HIGH, imagev1.RiskLevel_RISK_LEVEL_HIGH,
		imagev1.RiskLevel_RISK_LEVEL_HIGH, imagev1.RiskLevel_RISK_LEVEL_MEDIUM, imagev1.RiskLevel_RISK_LEVEL_MEDIUM, imagev1.RiskLevel_RISK_LEVEL_MEDIUM,
		imagev1.RiskLevel_RISK_LEVEL_LOW, imagev1.RiskLevel_RISK_LEVEL_LOW, imagev1.RiskLevel_RISK_LEVEL_NONE}
	seq := int64(0)
	batch := make([]readmodel.Report, 0, benchPerImage)
	for img := range benchDigests {
		repo := fmt.Sprintf("acme/repo-%03d", img/20)
		batch = batch[:0]
		for k := range benchPerImage {
			seq++
			v := rng.IntN(5000)
			batch = append(batch, readmodel.Report{Sequence: seq, Registry: "docker.io", Repository: repo, Digest: benchDigest("a", img),
				Tags: []string{fmt.Sprintf("v%d", img%20)}, PlatformDigests: []string{benchDigest("b", img)},
				VulnerabilityID: fmt.Sprintf("CVE-2026-%05d", v), Title: "a vulnerability", Provider: "Docker Scout",
				PackageName: fmt.Sprintf("pkg-%03d", (v+k)%200), PackageVersion: "1.0", RiskLevel: levels[v%len(levels)], RiskScore: 9.1,
				DetectedAt: now.Add(-time.Duration(rng.Int64N(int64(7 * 24 * time.Hour))))})
		}
		store.AddToIndex(batch)
	}
	var cs []inventory.Container
	for i := range benchRunning {
		img := i * (benchDigests / benchRunning)
		stage := []string{"production", "production", "production", "production", "production", "staging", "staging", "staging", "", ""}[i%10]
		d := benchDigest("a", img)
		if i%2 == 1 {
			d = benchDigest("b", img)
		}
		cs = append(cs, inventory.Container{ID: fmt.Sprint(i), Name: fmt.Sprintf("c-%d", i), Stage: stage, State: "running", ImageDigest: d, Digests: []string{d}})
	}
	inv := inventory.New(3*time.Hour, staticSource{cs: cs})
	inv.SetClock(func() time.Time { return now })
	if err := inv.Poll(context.Background()); err != nil {
		b.Fatal(err)
	}
	srv := New(store, inv, nil, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	srv.SetClock(func() time.Time { return now })
	return srv
}

func BenchmarkListPrioritizedFindings(b *testing.B) {
	srv := benchServer(b)
	for _, tc := range []struct {
		name   string
		params *triagev1.PrioritizationParams
	}{
		{"defaults", nil},
		{"include_not_new", &triagev1.PrioritizationParams{IncludeNotNew: true}},
		{"all_stages_all_levels_not_running", &triagev1.PrioritizationParams{IncludeNotNew: true, IncludeNotRunning: true, Stages: []string{"*"},
			RiskLevels: []imagev1.RiskLevel{imagev1.RiskLevel_RISK_LEVEL_CRITICAL, imagev1.RiskLevel_RISK_LEVEL_HIGH, imagev1.RiskLevel_RISK_LEVEL_MEDIUM}}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var total int64
			for b.Loop() {
				resp, err := srv.ListPrioritizedFindings(context.Background(), &triagev1.ListPrioritizedFindingsRequest{Params: tc.params})
				if err != nil {
					b.Fatal(err)
				}
				total = resp.TotalCount
			}
			b.ReportMetric(float64(total), "rows")
		})
	}
}

func BenchmarkGetAlertReduction(b *testing.B) {
	srv := benchServer(b)
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	var resp *triagev1.GetAlertReductionResponse
	for b.Loop() {
		var err error
		resp, err = srv.GetAlertReduction(context.Background(), &triagev1.GetAlertReductionRequest{})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(resp.Stages[0].Findings), "findings")
	b.ReportMetric(float64(resp.Stages[4].Findings), "new_findings")
	b.ReportMetric(float64(ms.HeapAlloc)/(1<<20), "heap_MiB_after_load")
}
