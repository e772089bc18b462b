// Package readmodel is the runtime service's own copy of the findings ingest stored, and the
// prioritization over it: which findings sit in images running in the chosen stages, which of them are
// new, and the alert-reduction funnel.
//
// Findings are followed from ingest by sequence (ExportFindings) into SQLite (RUNTIME_DB), the durable
// state: images with their platform digests, one row per distinct finding (image, vulnerability,
// package, version) and one row per report of it. Queries run over an in-memory index loaded from that
// database at start and updated after every committed batch: the funnel needs distinct counts over
// every finding of the lookback, which a column-oriented scan in Go answers in milliseconds where
// SQLite's COUNT(DISTINCT) over a million rows takes seconds on two cores.
package readmodel

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"sync"
	"time"

	imagev1 "github.com/scoutbridge/scoutbridge/gen/scoutbridge/image/v1"
	"github.com/scoutbridge/scoutbridge/pkg/sqlitedb"
)

// Report is one finding as ingest reported it (one VULNERABILITY_FINDING event).
type Report struct {
	Sequence        int64
	Registry        string
	Repository      string
	Digest          string
	Tags            []string
	PlatformDigests []string
	VulnerabilityID string
	Title           string
	Provider        string
	PackageName     string
	PackageVersion  string
	RiskLevel       imagev1.RiskLevel
	RiskScore       float64
	FixedVersions   []string
	DetectedAt      time.Time
}

var migrations = []string{`
CREATE TABLE sync_state (
	id INTEGER PRIMARY KEY CHECK (id = 1),
	last_sequence INTEGER NOT NULL
);
INSERT INTO sync_state (id, last_sequence) VALUES (1, 0);
CREATE TABLE images (
	id INTEGER PRIMARY KEY,
	digest TEXT NOT NULL UNIQUE,
	registry TEXT NOT NULL,
	repository TEXT NOT NULL,
	tags TEXT NOT NULL,
	platform_digests TEXT NOT NULL
);
-- every digest an image can be matched on: its own and its platforms'
CREATE TABLE image_digests (
	digest TEXT NOT NULL,
	image_id INTEGER NOT NULL REFERENCES images(id),
	PRIMARY KEY (digest, image_id)
) WITHOUT ROWID;
CREATE TABLE findings (
	id INTEGER PRIMARY KEY,
	image_id INTEGER NOT NULL REFERENCES images(id),
	vulnerability_id TEXT NOT NULL,
	package_name TEXT NOT NULL,
	package_version TEXT NOT NULL,
	title TEXT NOT NULL,
	provider TEXT NOT NULL,
	risk_level INTEGER NOT NULL,
	risk_score REAL NOT NULL,
	fixed_versions TEXT NOT NULL,
	UNIQUE (image_id, vulnerability_id, package_name, package_version)
);
CREATE INDEX findings_by_row ON findings (vulnerability_id, package_name, package_version);
-- every report of a finding (a daily rescan adds one per day)
CREATE TABLE reports (
	sequence INTEGER PRIMARY KEY,
	finding_id INTEGER NOT NULL REFERENCES findings(id),
	detected_at INTEGER NOT NULL
);
CREATE INDEX reports_by_finding ON reports (finding_id, detected_at);
`, `
-- An image is a digest in one repository: version 1 kept one repository per digest, so a digest pushed
-- to two repositories lost the rows of one. The read model is a copy of ingest, which keeps every
-- finding, so it is emptied and followed again from the start.
DELETE FROM reports;
DELETE FROM findings;
DELETE FROM image_digests;
DROP TABLE images;
CREATE TABLE images (
	id INTEGER PRIMARY KEY,
	digest TEXT NOT NULL,
	registry TEXT NOT NULL,
	repository TEXT NOT NULL,
	tags TEXT NOT NULL,
	platform_digests TEXT NOT NULL,
	UNIQUE (registry, repository, digest)
);
UPDATE sync_state SET last_sequence = 0;
`}

// Store is the read model.
type Store struct {
	db     *sql.DB
	syncMu sync.Mutex // one sync at a time

	mu  sync.RWMutex
	idx *index
	seq int64
}

// Open opens (or creates) the database at path and loads the index. path ":memory:" keeps nothing.
func Open(ctx context.Context, path string) (*Store, error) {
	db, err := sqlitedb.Open(ctx, path, sqlitedb.Options{Migrations: migrations, Synchronous: "NORMAL"})
	if err != nil {
		return nil, err
	}
	s := &Store{db: db, idx: newIndex()}
	if err := s.load(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// DB is the database, shared with the notification outbox.
func (s *Store) DB() *sql.DB { return s.db }

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// LastSequence is the highest ingest sequence applied.
func (s *Store) LastSequence() int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.seq
}

func (s *Store) load(ctx context.Context) error {
	if err := s.db.QueryRowContext(ctx, `SELECT last_sequence FROM sync_state WHERE id = 1`).Scan(&s.seq); err != nil {
		return fmt.Errorf("read sync state: %w", err)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT id, digest, registry, repository, tags, platform_digests FROM images`)
	if err != nil {
		return err
	}
	dbImage := map[int64]int32{}
	for rows.Next() {
		var id int64
		var im imageRec
		var tags, plats string
		if err := rows.Scan(&id, &im.digest, &im.registry, &im.repository, &tags, &plats); err != nil {
			rows.Close()
			return err
		}
		_ = json.Unmarshal([]byte(tags), &im.tags)
		_ = json.Unmarshal([]byte(plats), &im.platforms)
		dbImage[id] = s.idx.putImage(im)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	rows, err = s.db.QueryContext(ctx, `SELECT id, image_id, vulnerability_id, package_name, package_version, title, provider, risk_level, risk_score, fixed_versions FROM findings`)
	if err != nil {
		return err
	}
	dbFinding := map[int64]int32{}
	for rows.Next() {
		var id, imageID int64
		var r Report
		var fixed string
		if err := rows.Scan(&id, &imageID, &r.VulnerabilityID, &r.PackageName, &r.PackageVersion, &r.Title, &r.Provider, &r.RiskLevel, &r.RiskScore, &fixed); err != nil {
			rows.Close()
			return err
		}
		_ = json.Unmarshal([]byte(fixed), &r.FixedVersions)
		dbFinding[id] = s.idx.putFinding(dbImage[imageID], r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	rows, err = s.db.QueryContext(ctx, `SELECT finding_id, detected_at FROM reports ORDER BY finding_id, detected_at`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var fid, at int64
		if err := rows.Scan(&fid, &at); err != nil {
			return err
		}
		f := &s.idx.findings[dbFinding[fid]]
		f.reports = append(f.reports, at)
	}
	return rows.Err()
}

// Apply stores a batch of reports (ascending sequence) and adds them to the index. Reports at or below
// the last applied sequence are skipped, so a batch seen twice changes nothing.
func (s *Store) Apply(ctx context.Context, reports []Report) error {
	s.mu.RLock()
	last := s.seq
	s.mu.RUnlock()
	var todo []Report
	for _, r := range reports {
		if r.Sequence > last {
			todo = append(todo, r)
			last = r.Sequence
		}
	}
	if len(todo) == 0 {
		return nil
	}
	err := sqlitedb.Tx(ctx, s.db, func(tx *sql.Tx) error {
		upImage, err := tx.PrepareContext(ctx, `INSERT INTO images (digest, registry, repository, tags, platform_digests) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (registry, repository, digest) DO UPDATE SET tags = excluded.tags,
			platform_digests = CASE WHEN excluded.platform_digests = '[]' THEN images.platform_digests ELSE excluded.platform_digests END
			RETURNING id`)
		if err != nil {
			return err
		}
		defer upImage.Close()
		insDigest, err := tx.PrepareContext(ctx, `INSERT OR IGNORE INTO image_digests (digest, image_id) VALUES (?, ?)`)
		if err != nil {
			return err
		}
		defer insDigest.Close()
		upFinding, err := tx.PrepareContext(ctx, `INSERT INTO findings (image_id, vulnerability_id, package_name, package_version, title, provider, risk_level, risk_score, fixed_versions)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (image_id, vulnerability_id, package_name, package_version) DO UPDATE SET title = excluded.title,
			provider = excluded.provider, risk_level = excluded.risk_level, risk_score = excluded.risk_score, fixed_versions = excluded.fixed_versions
			RETURNING id`)
		if err != nil {
			return err
		}
		defer upFinding.Close()
		insReport, err := tx.PrepareContext(ctx, `INSERT OR IGNORE INTO reports (sequence, finding_id, detected_at) VALUES (?, ?, ?)`)
		if err != nil {
			return err
		}
		defer insReport.Close()
		for _, r := range todo {
			var imageID, findingID int64
			if err := upImage.QueryRowContext(ctx, r.Digest, r.Registry, r.Repository, jsonList(r.Tags), jsonList(r.PlatformDigests)).Scan(&imageID); err != nil {
				return fmt.Errorf("store image %s: %w", r.Digest, err)
			}
			for _, d := range append([]string{r.Digest}, r.PlatformDigests...) {
				if _, err := insDigest.ExecContext(ctx, d, imageID); err != nil {
					return err
				}
			}
			if err := upFinding.QueryRowContext(ctx, imageID, r.VulnerabilityID, r.PackageName, r.PackageVersion, r.Title, r.Provider,
				int(r.RiskLevel), r.RiskScore, jsonList(r.FixedVersions)).Scan(&findingID); err != nil {
				return fmt.Errorf("store finding %s in %s: %w", r.VulnerabilityID, r.Digest, err)
			}
			if _, err := insReport.ExecContext(ctx, r.Sequence, findingID, r.DetectedAt.UnixNano()); err != nil {
				return err
			}
		}
		_, err = tx.ExecContext(ctx, `UPDATE sync_state SET last_sequence = ? WHERE id = 1`, last)
		return err
	})
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range todo {
		s.idx.add(r)
	}
	s.seq = last
	return nil
}

// AddToIndex adds reports to the in-memory index only (benchmarks that measure the queries).
func (s *Store) AddToIndex(reports []Report) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range reports {
		s.idx.add(r)
	}
}

func jsonList(v []string) string {
	if len(v) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// RowID is the stable id of a row: a hash of (vulnerability, registry, repository, package, version).
func RowID(vuln, registry, repository, pkg, version string) string {
	h := rowHash(vuln, registry, repository, pkg, version)
	return hex.EncodeToString(h[:])
}

func rowHash(vuln, registry, repository, pkg, version string) [16]byte {
	h := sha256.New()
	for _, p := range []string{vuln, registry, repository, pkg, version} {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	var out [16]byte
	copy(out[:], h.Sum(nil))
	return out
}

// sortedCopy returns a sorted copy.
func sortedCopy(v []string) []string {
	out := append([]string(nil), v...)
	sort.Strings(out)
	return out
}
