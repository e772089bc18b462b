package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/scoutbridge/scoutbridge/services/orchestrator/internal/run"
)

const runColumns = `seq, run_id, state, trigger, dry_run, force_rescan, rescan_only, moves_watermark, discovery_done,
	namespaces, window_start, window_end, started_at, finished_at, namespaces_failed, error, trace_parent`

// CreateRun inserts a new run and sets its Seq.
func (s *Store) CreateRun(ctx context.Context, r *run.Run) error {
	res, err := s.db.ExecContext(ctx, `INSERT INTO runs (run_id, state, trigger, dry_run, force_rescan, rescan_only,
		moves_watermark, discovery_done, namespaces, window_start, window_end, started_at, finished_at, namespaces_failed, error,
		trace_parent) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.ID, int32(r.State), int32(r.Trigger), boolInt(r.DryRun), boolInt(r.ForceRescan), boolInt(r.RescanOnly),
		boolInt(r.MovesWatermark), boolInt(r.DiscoveryDone), strings.Join(r.Namespaces, ","),
		nanos(r.Window.Start), nanos(r.Window.End), nanos(r.StartedAt), nanos(r.FinishedAt), r.NamespacesFailed, r.Error,
		r.TraceParent)
	if err != nil {
		return fmt.Errorf("insert run: %w", err)
	}
	r.Seq, err = res.LastInsertId()
	if err != nil || !r.MovesWatermark {
		return err
	}
	// The first default run pins the watermark at its window's start, so that until a run covers its
	// window completely every later run starts there too (not at "now - INITIAL_LOOKBACK" again).
	_, err = s.db.ExecContext(ctx, `INSERT INTO watermark (scope, at) VALUES (?, ?) ON CONFLICT (scope) DO NOTHING`,
		defaultScope, r.Window.Start.UnixNano())
	return err
}

// UpdateRun saves a run's own fields.
func (s *Store) UpdateRun(ctx context.Context, r *run.Run) error {
	return updateRun(ctx, s.db, r)
}

type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func updateRun(ctx context.Context, db execer, r *run.Run) error {
	_, err := db.ExecContext(ctx, `UPDATE runs SET state = ?, discovery_done = ?, finished_at = ?, namespaces_failed = ?, error = ?,
		trace_parent = ? WHERE run_id = ?`, int32(r.State), boolInt(r.DiscoveryDone), nanos(r.FinishedAt), r.NamespacesFailed, r.Error,
		r.TraceParent, r.ID)
	if err != nil {
		return fmt.Errorf("update run %s: %w", r.ID, err)
	}
	return nil
}

type scanner interface{ Scan(dest ...any) error }

func scanRun(row scanner) (*run.Run, error) {
	var r run.Run
	var state, trigger int32
	var dry, force, rescan, moves, done int
	var ns string
	var ws, we, st, fin sql.NullInt64
	if err := row.Scan(&r.Seq, &r.ID, &state, &trigger, &dry, &force, &rescan, &moves, &done, &ns, &ws, &we, &st, &fin,
		&r.NamespacesFailed, &r.Error, &r.TraceParent); err != nil {
		return nil, err
	}
	r.State, r.Trigger = run.State(state), run.Trigger(trigger)
	r.DryRun, r.ForceRescan, r.RescanOnly, r.MovesWatermark, r.DiscoveryDone = dry == 1, force == 1, rescan == 1, moves == 1, done == 1
	if ns != "" {
		r.Namespaces = strings.Split(ns, ",")
	}
	r.Window = run.Window{Start: fromNanos(ws), End: fromNanos(we)}
	r.StartedAt, r.FinishedAt = fromNanos(st), fromNanos(fin)
	return &r, nil
}

// GetRun returns a run with its counts.
func (s *Store) GetRun(ctx context.Context, id string) (*run.Run, error) {
	r, err := scanRun(s.db.QueryRowContext(ctx, `SELECT `+runColumns+` FROM runs WHERE run_id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("run %q: %w", id, run.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read run %s: %w", id, err)
	}
	if err := s.count(ctx, r); err != nil {
		return nil, err
	}
	return r, nil
}

// count fills a run's counts from its images.
func (s *Store) count(ctx context.Context, r *run.Run) error {
	var c run.Counts
	err := s.db.QueryRowContext(ctx, `SELECT
		COALESCE(SUM(scan_reason = ?), 0),
		COALESCE(SUM(state IN (?, ?) OR (state = ? AND attempts > 0 AND reason LIKE 'ingest:%')), 0),
		COALESCE(SUM(state = ?), 0),
		COALESCE(SUM(state = ?), 0),
		COALESCE(SUM(state = ?), 0),
		COALESCE(SUM(critical), 0), COALESCE(SUM(high), 0), COALESCE(SUM(medium), 0), COALESCE(SUM(low), 0), COALESCE(SUM(none), 0),
		COALESCE(SUM(events_stored), 0),
		COALESCE(SUM(state IN (?, ?) AND scan_reason != ?), 0),
		COALESCE(SUM(state IN (?, ?) AND scan_reason = ?), 0)
		FROM run_images WHERE run_id = ?`,
		int32(run.ReasonPushed),
		int32(run.ImageScanned), int32(run.ImageIngested), int32(run.ImageFailed),
		int32(run.ImageSkipped), int32(run.ImageFailed), int32(run.ImageIngested),
		int32(run.ImageScanned), int32(run.ImageIngested), int32(run.ReasonRunning),
		int32(run.ImageScanned), int32(run.ImageIngested), int32(run.ReasonRunning),
		r.ID).Scan(&c.Discovered, &c.Scanned, &c.Skipped, &c.Failed, &c.Ingested,
		&c.Findings.Critical, &c.Findings.High, &c.Findings.Medium, &c.Findings.Low, &c.Findings.None,
		&c.EventsStored, &c.ScannedPushed, &c.ScannedRunning)
	if err != nil {
		return fmt.Errorf("count images of %s: %w", r.ID, err)
	}
	c.NamespacesFailed = r.NamespacesFailed
	r.Counts = c
	return nil
}

// ListRuns returns runs newest first with Seq below beforeSeq (0: from the newest), with counts.
func (s *Store) ListRuns(ctx context.Context, beforeSeq int64, limit int) ([]*run.Run, error) {
	if beforeSeq <= 0 {
		beforeSeq = 1<<63 - 1
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+runColumns+` FROM runs WHERE seq < ? ORDER BY seq DESC LIMIT ?`, beforeSeq, limit)
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	runs, err := collectRuns(rows)
	if err != nil {
		return nil, err
	}
	for _, r := range runs {
		if err := s.count(ctx, r); err != nil {
			return nil, err
		}
	}
	return runs, nil
}

func collectRuns(rows *sql.Rows) ([]*run.Run, error) {
	defer rows.Close()
	var runs []*run.Run
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, fmt.Errorf("read run: %w", err)
		}
		runs = append(runs, r)
	}
	return runs, rows.Err()
}

// UnfinishedRuns returns the runs still RUNNING, newest first.
func (s *Store) UnfinishedRuns(ctx context.Context) ([]*run.Run, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+runColumns+` FROM runs WHERE state IN (?, ?) ORDER BY seq DESC`,
		int32(run.StateRunning), 1 /* PENDING */)
	if err != nil {
		return nil, fmt.Errorf("find unfinished runs: %w", err)
	}
	return collectRuns(rows)
}

// LatestRun returns the newest run matching f, or nil.
func (s *Store) LatestRun(ctx context.Context, f run.RunFilter) (*run.Run, error) {
	q := `SELECT ` + runColumns + ` FROM runs`
	var where []string
	if f.MovesWatermark {
		where = append(where, "moves_watermark = 1")
	}
	if f.RescanOnly {
		where = append(where, "rescan_only = 1")
	}
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	r, err := scanRun(s.db.QueryRowContext(ctx, q+" ORDER BY seq DESC LIMIT 1"))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("latest run: %w", err)
	}
	return r, nil
}
