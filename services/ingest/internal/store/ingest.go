package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/scoutbridge/scoutbridge/pkg/sqlitedb"
	"github.com/scoutbridge/scoutbridge/services/ingest/internal/semdict"
)

// IngestResult says what Ingest stored.
type IngestResult struct {
	// Duplicate is true when the scan was stored before; nothing new was stored then.
	Duplicate    bool
	EventsStored int64
	// EventsQueued counts (event, sink) pairs now waiting for delivery: every stored event is queued
	// for every configured sink by the same commit (the sinks' cursors are below it).
	EventsQueued int64
}

// Rows go in multi-row INSERTs of these sizes (largest first; a scan of 201 events is 100+100+1): far
// fewer statements to run and round trips through database/sql and the driver, every statement
// prepared once by Open, and well under SQLite's 32,766 bound parameters.
var (
	eventChunks   = []int{100, 64, 32, 16, 8, 4, 2, 1} // 4 parameters per row
	findingChunks = []int{50, 32, 16, 8, 4, 2, 1}      // 18 parameters per row
)

// chunk is the size of the next multi-row insert for n remaining rows.
func chunk(sizes []int, n int) int {
	for _, c := range sizes {
		if c <= n {
			return c
		}
	}
	return n
}

const (
	insertScan = `INSERT INTO scans (scan_id, registry, repository, digest, tags, platform_digests,
		provider, completed_at, ingested_at, finding_count) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (scan_id) DO NOTHING`
	insertCursor   = `INSERT INTO sink_cursors (sink, delivered_seq) VALUES (?, ?) ON CONFLICT (sink) DO NOTHING`
	insertCounters = `INSERT INTO counters (name, value) VALUES ('scans', ?), ('events', ?), ('findings', ?)
		ON CONFLICT (name) DO UPDATE SET value = value + excluded.value`
)

func hotStatements() []string {
	qs := []string{insertScan, insertCursor, insertCounters}
	for _, n := range eventChunks {
		qs = append(qs, rowsSQL(insertEventsHead, insertEventsRow, n))
	}
	for _, n := range findingChunks {
		qs = append(qs, rowsSQL(insertFindingsHead, insertFindingsRow, n))
	}
	return qs
}

const (
	insertEventsHead   = `INSERT INTO events (event_id, scan_id, type, body) VALUES `
	insertEventsRow    = `(?, ?, ?, ?)`
	insertFindingsHead = `INSERT INTO findings (seq, finding_id, event_id, scan_id, registry, repository,
		digest, vulnerability_id, title, package_name, package_version, purl, severity, risk_level, risk_score,
		fixed_versions, detected_at, provider) VALUES `
	insertFindingsRow = `(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
)

// Ingest commits a scan, its events and its findings index in one transaction; the same commit queues
// the events for every sink in sinks (a sink's cursor is created just below the scan's first event the
// first time it is named). A scan id seen before stores nothing and reports Duplicate.
func (s *Store) Ingest(ctx context.Context, b *semdict.Batch, sinks []string) (IngestResult, error) {
	var res IngestResult
	now := ms(s.now())
	err := sqlitedb.Tx(ctx, s.w, func(tx *sql.Tx) error {
		tags, _ := json.Marshal(nonNil(b.Tags))
		platforms, _ := json.Marshal(nonNil(b.PlatformDigests))
		r, err := s.exec(ctx, tx, insertScan, b.ScanID, b.Registry, b.Repository, b.Digest, string(tags), string(platforms), b.Provider, ms(b.CompletedAt), now, len(b.Findings))
		if err != nil {
			return fmt.Errorf("insert scan: %w", err)
		}
		if n, _ := r.RowsAffected(); n == 0 {
			res.Duplicate = true
			return nil
		}
		for _, d := range b.PlatformDigests {
			if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO scan_platforms (digest, scan_id) VALUES (?, ?)`, d, b.ScanID); err != nil {
				return fmt.Errorf("insert platform: %w", err)
			}
		}

		// Events: the scan event, then one per finding, in multi-row inserts. seq is AUTOINCREMENT and
		// this transaction is the only writer, so one statement's rows get consecutive seqs ending at
		// its last insert id. Each statement's events are encoded into one buffer, reused by the next
		// statement once this one has run.
		nEvents := len(b.Findings) + 1
		seqs := make([]int64, 0, nEvents)
		args := make([]any, 0, 4*eventChunks[0])
		var buf []byte
		for start, end := 0, 0; start < nEvents; start = end {
			end = start + chunk(eventChunks, nEvents-start)
			args, buf = args[:0], buf[:0]
			for i := start; i < end; i++ {
				id, typ, e := b.Scan.EventID, semdict.TypeScan, &b.Scan.Event
				if i > 0 {
					f := &b.Findings[i-1]
					id, typ, e = f.EventID, semdict.TypeFinding, &f.Event
				}
				from := len(buf)
				buf = e.AppendJSON(buf)
				args = append(args, id, b.ScanID, typ, buf[from:len(buf):len(buf)])
			}
			r, err := s.exec(ctx, tx, rowsSQL(insertEventsHead, insertEventsRow, end-start), args...)
			if err != nil {
				return fmt.Errorf("insert events: %w", err)
			}
			last, err := r.LastInsertId()
			if err != nil {
				return err
			}
			for seq := last - int64(end-start) + 1; seq <= last; seq++ {
				seqs = append(seqs, seq)
			}
		}
		res.EventsStored = int64(len(seqs))

		args = make([]any, 0, 18*findingChunks[0])
		for start, end := 0, 0; start < len(b.Findings); start = end {
			end = start + chunk(findingChunks, len(b.Findings)-start)
			args = args[:0]
			for i := start; i < end; i++ {
				f := &b.Findings[i]
				fixes, _ := json.Marshal(nonNil(f.FixedVersions))
				args = append(args, seqs[i+1], f.FindingID, f.EventID, b.ScanID, b.Registry, b.Repository,
					b.Digest, f.VulnerabilityID, f.Title, f.PackageName, f.PackageVersion, f.PURL, f.Severity,
					int(f.RiskLevel), f.RiskScore, string(fixes), ms(f.DetectedAt), b.Provider)
			}
			if _, err := s.exec(ctx, tx, rowsSQL(insertFindingsHead, insertFindingsRow, end-start), args...); err != nil {
				return fmt.Errorf("insert findings: %w", err)
			}
		}

		// Queue: nothing to write but a cursor for a sink seen for the first time.
		for _, sink := range sinks {
			if _, err := s.exec(ctx, tx, insertCursor, sink, seqs[0]-1); err != nil {
				return fmt.Errorf("queue events for %s: %w", sink, err)
			}
			res.EventsQueued += res.EventsStored
		}
		if err := addCounters(ctx, tx, s, 1, res.EventsStored, int64(len(b.Findings))); err != nil {
			return err
		}
		return nil
	})
	if err != nil {
		return IngestResult{}, err
	}
	return res, nil
}

// rowsSQL is head followed by n copies of row, comma-separated.
func rowsSQL(head, row string, n int) string {
	q := make([]byte, 0, len(head)+n*(len(row)+2))
	q = append(q, head...)
	for i := range n {
		if i > 0 {
			q = append(q, ", "...)
		}
		q = append(q, row...)
	}
	return string(q)
}

func addCounters(ctx context.Context, tx *sql.Tx, s *Store, scans, events, findings int64) error {
	_, err := s.exec(ctx, tx, insertCounters, scans, events, findings)
	if err != nil {
		return fmt.Errorf("count: %w", err)
	}
	return nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
