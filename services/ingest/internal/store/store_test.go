package store

import (
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	imagev1 "github.com/scoutbridge/scoutbridge/gen/scoutbridge/image/v1"
	"github.com/scoutbridge/scoutbridge/services/ingest/internal/semdict"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func report(scanID, repo string, digestByte byte, vulns ...string) *imagev1.ScanReport {
	r := &imagev1.ScanReport{
		ScanId: scanID,
		Image: &imagev1.Image{Registry: "docker.io", Repository: repo, Digest: "sha256:" + strings.Repeat(string(digestByte), 64),
			Tags: []string{"latest"}, Platforms: []*imagev1.Platform{{Os: "linux", Architecture: "arm64", Digest: "sha256:" + strings.Repeat("f", 63) + string(digestByte)}}},
		CompletedAt: timestamppb.New(time.Date(2026, 11, 20, 18, 0, 0, 0, time.UTC)),
		Status:      imagev1.ScanStatus_SCAN_STATUS_COMPLETED,
	}
	for i, v := range vulns {
		sev := imagev1.Severity_SEVERITY_HIGH
		if i%2 == 1 {
			sev = imagev1.Severity_SEVERITY_LOW
		}
		r.Findings = append(r.Findings, &imagev1.Finding{VulnerabilityId: v, Severity: sev,
			Package: &imagev1.Package{Type: "npm", Name: fmt.Sprintf("pkg%d", i), Version: "1.0.0"}, FixedVersions: []string{"1.0.1"}})
	}
	return r
}

func ingest(t *testing.T, s *Store, r *imagev1.ScanReport, sinks ...string) IngestResult {
	t.Helper()
	b, err := semdict.Map(r, semdict.Options{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.Ingest(t.Context(), b, sinks)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func open(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestIngestIsDurableAndDuplicatesStoreNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ingest.db")
	s := open(t, path)
	res := ingest(t, s, report("s1", "acme/api", 'a', "CVE-1", "CVE-2"), "dynatrace", "jsonl")
	if res.Duplicate || res.EventsStored != 3 || res.EventsQueued != 6 {
		t.Fatalf("first ingest %+v, want 3 stored and 6 queued", res)
	}
	again := ingest(t, s, report("s1", "acme/api", 'a', "CVE-1", "CVE-2"), "dynatrace", "jsonl")
	if !again.Duplicate || again.EventsStored != 0 || again.EventsQueued != 0 {
		t.Fatalf("re-ingest %+v, want duplicate with nothing stored", again)
	}
	s.Close()

	s = open(t, path)
	st, err := s.Stats(t.Context())
	if err != nil || st != (Stats{Scans: 1, Events: 3, Findings: 2}) {
		t.Fatalf("stats after reopen %+v %v", st, err)
	}
	c, _ := s.SinkCounts(t.Context(), "dynatrace")
	if c.Queued != 3 || c.OldestQueued.IsZero() {
		t.Fatalf("dynatrace queue after reopen %+v", c)
	}
}

func TestListFindingsFiltersAndPages(t *testing.T) {
	s := open(t, ":memory:")
	ingest(t, s, report("s1", "acme/api", 'a', "CVE-1", "CVE-2", "CVE-3"))
	ingest(t, s, report("s2", "acme/web", 'b', "CVE-1", "CVE-4"))

	count := func(f Filter) int {
		t.Helper()
		got, _, err := s.ListFindings(t.Context(), f)
		if err != nil {
			t.Fatal(err)
		}
		return len(got)
	}
	tests := []struct {
		name   string
		filter Filter
		want   int
	}{
		{"everything", Filter{}, 5},
		{"one repository", Filter{Repository: "acme/web"}, 2},
		{"one image digest", Filter{Digest: "sha256:" + strings.Repeat("a", 64)}, 3},
		{"a platform digest finds the image's findings", Filter{Digest: "sha256:" + strings.Repeat("f", 63) + "b"}, 2},
		{"one vulnerability", Filter{VulnerabilityID: "CVE-1"}, 2},
		{"one risk level", Filter{RiskLevel: imagev1.RiskLevel_RISK_LEVEL_LOW}, 2},
		{"one provider", Filter{Provider: "Docker Scout"}, 5},
		{"another provider", Filter{Provider: "Trivy"}, 0},
		{"detected in range", Filter{DetectedAfter: time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC), DetectedBefore: time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC)}, 5},
		{"detected before the range", Filter{DetectedBefore: time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := count(tt.filter); got != tt.want {
				t.Errorf("%d findings, want %d", got, tt.want)
			}
		})
	}

	var seen []int64
	tok := ""
	for {
		page, next, err := s.ListFindings(t.Context(), Filter{PageSize: 2, PageToken: tok})
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range page {
			seen = append(seen, f.Sequence)
		}
		if next == "" {
			break
		}
		tok = next
	}
	if len(seen) != 5 {
		t.Fatalf("paging saw %d findings, want 5", len(seen))
	}
	for i := 1; i < len(seen); i++ {
		if seen[i] >= seen[i-1] {
			t.Fatalf("not newest first: %v", seen)
		}
	}
	if _, _, err := s.ListFindings(t.Context(), Filter{PageToken: "garbage"}); !errors.Is(err, ErrBadPageToken) {
		t.Fatalf("bad token: %v", err)
	}
}

func TestExportFindingsFollowsTheStore(t *testing.T) {
	s := open(t, ":memory:")
	ingest(t, s, report("s1", "acme/api", 'a', "CVE-1", "CVE-2", "CVE-3"))
	page, last, err := s.ExportFindings(t.Context(), 0, 2)
	if err != nil || len(page) != 2 || page[0].Sequence >= page[1].Sequence {
		t.Fatalf("first export %v %v", page, err)
	}
	if len(page[0].PlatformDigests) != 1 || page[0].Tags[0] != "latest" {
		t.Fatalf("export lacks platform digests or tags: %+v", page[0])
	}
	rest, last2, _ := s.ExportFindings(t.Context(), page[1].Sequence, 10)
	if len(rest) != 1 || last != last2 || rest[0].Sequence != last {
		t.Fatalf("rest %v last %d/%d", rest, last, last2)
	}
	ingest(t, s, report("s2", "acme/api", 'b', "CVE-9"))
	more, _, _ := s.ExportFindings(t.Context(), last, 10)
	if len(more) != 1 || more[0].VulnerabilityID != "CVE-9" {
		t.Fatalf("new finding not exported after last: %v", more)
	}
}

func TestOutboxSendDeadLetterRedrive(t *testing.T) {
	s := open(t, ":memory:")
	ingest(t, s, report("s1", "acme/api", 'a', "CVE-1", "CVE-2", "CVE-3"), "dt")
	ctx := t.Context()
	batch, err := s.NextBatch(ctx, "dt", 0, 2, 1<<20)
	if err != nil || len(batch) != 2 {
		t.Fatalf("batch %d %v", len(batch), err)
	}
	small, _ := s.NextBatch(ctx, "dt", 0, 10, len(batch[0].Body)+3)
	if len(small) != 1 {
		t.Fatalf("byte limit ignored: %d events", len(small))
	}
	ahead, _ := s.NextBatch(ctx, "dt", batch[1].Seq, 10, 1<<20) // read while batch is in flight
	if len(ahead) != 2 || ahead[0].Seq != batch[1].Seq+1 {
		t.Fatalf("the batch after %d starts at %v, want the 2 events after it", batch[1].Seq, ahead)
	}
	if err := s.MarkSent(ctx, "dt", batch); err != nil {
		t.Fatal(err)
	}
	rest, _ := s.NextBatch(ctx, "dt", 0, 10, 1<<20)
	if len(rest) != 2 {
		t.Fatalf("after sending 2 of 4, %d wait", len(rest))
	}
	if err := s.DeadLetter(ctx, "dt", rest, 400, `{"error":"bad"}`); err != nil {
		t.Fatal(err)
	}
	c, _ := s.SinkCounts(ctx, "dt")
	if c.Queued != 0 || c.Sent != 2 || c.DeadLettered != 2 {
		t.Fatalf("counts %+v", c)
	}
	dls, _, err := s.ListDeadLetters(ctx, "", 10, "")
	if err != nil || len(dls) != 1 || dls[0].StatusCode != 400 || dls[0].Response != `{"error":"bad"}` || dls[0].EventCount != 2 {
		t.Fatalf("dead letters %+v %v", dls, err)
	}
	n, err := s.Redrive(ctx, "dt", nil, true)
	if err != nil || n != 2 {
		t.Fatalf("redrive %d %v", n, err)
	}
	again, _ := s.NextBatch(ctx, "dt", 0, 10, 1<<20)
	if len(again) != 2 || again[0].EventID != rest[0].EventID {
		t.Fatalf("redriven events not queued: %v", again)
	}
	c, _ = s.SinkCounts(ctx, "dt")
	if c.DeadLettered != 0 || c.Queued != 2 {
		t.Fatalf("counts after redrive %+v", c)
	}
}

func TestLargeScanKeepsFindingsAlignedWithTheirEvents(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "ingest.db"))
	var vulns []string
	for i := range 237 { // 238 events: several multi-row inserts of different sizes
		vulns = append(vulns, fmt.Sprintf("CVE-2026-%05d", i))
	}
	ingest(t, s, report("s0", "acme/api", 'a', "CVE-0"), "dt") // so the big scan does not start at seq 1
	res := ingest(t, s, report("s1", "acme/api", 'b', vulns...), "dt")
	if res.EventsStored != 238 || res.EventsQueued != 238 {
		t.Fatalf("ingest %+v", res)
	}
	queued, err := s.NextBatch(t.Context(), "dt", 0, 1000, 1<<30)
	if err != nil || len(queued) != 240 {
		t.Fatalf("%d queued, %v; want 240", len(queued), err)
	}
	bySeq := map[int64]Pending{}
	for i, p := range queued {
		if i > 0 && p.Seq != queued[i-1].Seq+1 {
			t.Fatalf("seqs not consecutive: %d after %d", p.Seq, queued[i-1].Seq)
		}
		bySeq[p.Seq] = p
	}
	found, _, err := s.ExportFindings(t.Context(), 0, 1000)
	if err != nil || len(found) != 238 {
		t.Fatalf("%d findings, %v", len(found), err)
	}
	for _, f := range found {
		e := bySeq[f.Sequence]
		if e.EventID != f.EventID || !strings.Contains(string(e.Body), `"finding.id":"`+f.FindingID+`"`) ||
			!strings.Contains(string(e.Body), `"vulnerability.id":"`+f.VulnerabilityID+`"`) {
			t.Fatalf("finding %s (seq %d) does not match the event stored at its seq: %s", f.VulnerabilityID, f.Sequence, e.Body)
		}
	}
	var ps int
	if err := s.r.QueryRow("PRAGMA page_size").Scan(&ps); err != nil || ps != pageSize {
		t.Errorf("page size %d %v, want %d", ps, err, pageSize)
	}
}

func TestASinkOnlyReceivesScansIngestedAfterItWasConfigured(t *testing.T) {
	s := open(t, ":memory:")
	ingest(t, s, report("s1", "acme/api", 'a', "CVE-1", "CVE-2"))
	ingest(t, s, report("s2", "acme/api", 'b', "CVE-3"), "dt")
	got, err := s.NextBatch(t.Context(), "dt", 0, 100, 1<<20)
	if err != nil || len(got) != 2 || !strings.Contains(string(got[1].Body), "CVE-3") {
		t.Fatalf("queued for dt: %d %v", len(got), err)
	}
	if none, _ := s.NextBatch(t.Context(), "never-configured", 0, 100, 1<<20); len(none) != 0 {
		t.Fatalf("%d events queued for a sink never configured", len(none))
	}
	if err := s.MarkSent(t.Context(), "dt", got[:1]); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkSent(t.Context(), "dt", got[:1]); err != nil { // acknowledged twice: counted once
		t.Fatal(err)
	}
	c, _ := s.SinkCounts(t.Context(), "dt")
	if c.Queued != 1 || c.Sent != 1 || c.OldestQueued.IsZero() {
		t.Fatalf("counts %+v", c)
	}
}

func TestAPreReleaseDatabaseIsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ingest.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("CREATE TABLE outbox (id INTEGER PRIMARY KEY); PRAGMA user_version = 1"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := Open(t.Context(), path); err == nil || !strings.Contains(err.Error(), "pre-release") {
		t.Fatalf("opened a pre-release database: %v", err)
	}
}
