package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	imagev1 "github.com/scoutbridge/scoutbridge/gen/scoutbridge/image/v1"
	"github.com/scoutbridge/scoutbridge/pkg/sqlitedb"
	"github.com/scoutbridge/scoutbridge/services/orchestrator/internal/run"
)

// AddImage inserts an image into a run; false when the run holds the digest already.
func (s *Store) AddImage(ctx context.Context, runID string, img *run.Image) (bool, error) {
	blob, err := proto.Marshal(img.Image)
	if err != nil {
		return false, fmt.Errorf("encode image: %w", err)
	}
	k := run.KeyOf(img.Image)
	res, err := s.db.ExecContext(ctx, `INSERT INTO run_images (run_id, registry, repository, digest, image, state, reason,
		attempts, scan_reason, added, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT DO NOTHING`,
		runID, k.Registry, k.Repository, k.Digest, blob, int32(img.State), img.Reason, img.Attempts, int32(img.ScanReason),
		time.Now().UnixNano(), stamp(img.UpdatedAt))
	if err != nil {
		return false, fmt.Errorf("insert image %s@%s: %w", k.Repository, k.Digest, err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// SaveImage saves an image's state (and its report while it waits for ingest).
func (s *Store) SaveImage(ctx context.Context, runID string, img *run.Image) error {
	return saveImage(ctx, s.db, runID, img)
}

func saveImage(ctx context.Context, db execer, runID string, img *run.Image) error {
	var report []byte
	if img.Report != nil {
		var err error
		if report, err = proto.Marshal(img.Report); err != nil {
			return fmt.Errorf("encode report: %w", err)
		}
	}
	k := run.KeyOf(img.Image)
	f := img.Findings
	_, err := db.ExecContext(ctx, `UPDATE run_images SET state = ?, reason = ?, attempts = ?, critical = ?, high = ?, medium = ?,
		low = ?, none = ?, events_stored = ?, report = ?, updated_at = ?
		WHERE run_id = ? AND registry = ? AND repository = ? AND digest = ?`,
		int32(img.State), img.Reason, img.Attempts, f.Critical, f.High, f.Medium, f.Low, f.None, img.EventsStored, report,
		stamp(img.UpdatedAt), runID, k.Registry, k.Repository, k.Digest)
	if err != nil {
		return fmt.Errorf("save image %s@%s: %w", k.Repository, k.Digest, err)
	}
	return nil
}

// CompleteImage saves an ingested or skipped image, remembers an ingested digest as evaluated and
// drops the image from the carry-over queue, in one transaction.
func (s *Store) CompleteImage(ctx context.Context, runID string, img *run.Image, eval *run.Evaluation) error {
	k := run.KeyOf(img.Image)
	return sqlitedb.Tx(ctx, s.db, func(tx *sql.Tx) error {
		if err := saveImage(ctx, tx, runID, img); err != nil {
			return err
		}
		if eval != nil {
			if _, err := tx.ExecContext(ctx, `INSERT INTO evaluated (registry, repository, digest, run_id, at) VALUES (?, ?, ?, ?, ?)
				ON CONFLICT (registry, repository, digest) DO UPDATE SET run_id = excluded.run_id, at = excluded.at`,
				k.Registry, k.Repository, k.Digest, eval.RunID, eval.At.UnixNano()); err != nil {
				return fmt.Errorf("remember %s@%s: %w", k.Repository, k.Digest, err)
			}
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM carry_over WHERE registry = ? AND repository = ? AND digest = ?`,
			k.Registry, k.Repository, k.Digest)
		return err
	})
}

// Images returns every image of a run in the order they were added.
func (s *Store) Images(ctx context.Context, runID string) ([]*run.Image, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT image, state, reason, attempts, scan_reason, critical, high, medium, low, none,
		events_stored, report, updated_at FROM run_images WHERE run_id = ? ORDER BY added, digest`, runID)
	if err != nil {
		return nil, fmt.Errorf("list images of %s: %w", runID, err)
	}
	defer rows.Close()
	var out []*run.Image
	for rows.Next() {
		var img run.Image
		var blob, report []byte
		var state, reason int32
		var updated sql.NullInt64
		f := &img.Findings
		if err := rows.Scan(&blob, &state, &img.Reason, &img.Attempts, &reason, &f.Critical, &f.High, &f.Medium, &f.Low, &f.None,
			&img.EventsStored, &report, &updated); err != nil {
			return nil, fmt.Errorf("read image: %w", err)
		}
		img.Image = &imagev1.Image{}
		if err := proto.Unmarshal(blob, img.Image); err != nil {
			return nil, fmt.Errorf("decode image: %w", err)
		}
		if report != nil {
			img.Report = &imagev1.ScanReport{}
			if err := proto.Unmarshal(report, img.Report); err != nil {
				return nil, fmt.Errorf("decode report: %w", err)
			}
		}
		img.State, img.ScanReason, img.UpdatedAt = run.ImageState(state), run.ScanReason(reason), fromNanos(updated)
		out = append(out, &img)
	}
	return out, rows.Err()
}

// Evaluated says whether (and when, by which run) a digest was scanned and ingested.
func (s *Store) Evaluated(ctx context.Context, k run.Key) (run.Evaluation, bool, error) {
	var ev run.Evaluation
	var at int64
	err := s.db.QueryRowContext(ctx, `SELECT run_id, at FROM evaluated WHERE registry = ? AND repository = ? AND digest = ?`,
		k.Registry, k.Repository, k.Digest).Scan(&ev.RunID, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return ev, false, nil
	}
	if err != nil {
		return ev, false, fmt.Errorf("read memory of %s@%s: %w", k.Repository, k.Digest, err)
	}
	ev.At = time.Unix(0, at).UTC()
	return ev, true, nil
}

// CarryOvers returns the images queued for the next default run, oldest first.
func (s *Store) CarryOvers(ctx context.Context) ([]run.CarryOver, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT image, reason, run_id FROM carry_over ORDER BY updated_at, digest`)
	if err != nil {
		return nil, fmt.Errorf("list carried-over images: %w", err)
	}
	defer rows.Close()
	var out []run.CarryOver
	for rows.Next() {
		var c run.CarryOver
		var blob []byte
		if err := rows.Scan(&blob, &c.Reason, &c.RunID); err != nil {
			return nil, err
		}
		c.Image = &imagev1.Image{}
		if err := proto.Unmarshal(blob, c.Image); err != nil {
			return nil, fmt.Errorf("decode carried-over image: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

const defaultScope = "default"

// Watermark is the end of the last fully covered default-scope window.
func (s *Store) Watermark(ctx context.Context) (time.Time, bool, error) {
	var at int64
	err := s.db.QueryRowContext(ctx, `SELECT at FROM watermark WHERE scope = ?`, defaultScope).Scan(&at)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("read watermark: %w", err)
	}
	return time.Unix(0, at).UTC(), true, nil
}

// FinishRun saves the final run, moves the watermark forward (never back), queues carry-overs and
// drops keys from the queue, in one transaction.
func (s *Store) FinishRun(ctx context.Context, r *run.Run, advanceTo *time.Time, carry []run.CarryOver, drop []run.Key) error {
	return sqlitedb.Tx(ctx, s.db, func(tx *sql.Tx) error {
		if err := updateRun(ctx, tx, r); err != nil {
			return err
		}
		if advanceTo != nil {
			if _, err := tx.ExecContext(ctx, `INSERT INTO watermark (scope, at) VALUES (?, ?)
				ON CONFLICT (scope) DO UPDATE SET at = MAX(at, excluded.at)`, defaultScope, advanceTo.UnixNano()); err != nil {
				return fmt.Errorf("move watermark: %w", err)
			}
		}
		for _, c := range carry {
			blob, err := proto.Marshal(c.Image)
			if err != nil {
				return err
			}
			k := run.KeyOf(c.Image)
			if _, err := tx.ExecContext(ctx, `INSERT INTO carry_over (registry, repository, digest, image, reason, run_id, updated_at)
				VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (registry, repository, digest) DO UPDATE SET
				image = excluded.image, reason = excluded.reason, run_id = excluded.run_id, updated_at = excluded.updated_at`,
				k.Registry, k.Repository, k.Digest, blob, c.Reason, c.RunID, time.Now().UnixNano()); err != nil {
				return fmt.Errorf("carry over %s@%s: %w", k.Repository, k.Digest, err)
			}
		}
		for _, k := range drop {
			if _, err := tx.ExecContext(ctx, `DELETE FROM carry_over WHERE registry = ? AND repository = ? AND digest = ?`,
				k.Registry, k.Repository, k.Digest); err != nil {
				return err
			}
		}
		return nil
	})
}
