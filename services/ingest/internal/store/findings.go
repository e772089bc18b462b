package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	imagev1 "github.com/scoutbridge/scoutbridge/gen/scoutbridge/image/v1"
)

// Finding is one stored finding with its image's tags and platform digests.
type Finding struct {
	Sequence        int64
	FindingID       string
	EventID         string
	ScanID          string
	Registry        string
	Repository      string
	Digest          string
	Tags            []string
	PlatformDigests []string
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
	Provider        string
}

// Filter selects findings; zero fields match everything.
type Filter struct {
	Repository      string
	Digest          string // the image digest or one of its platform digests
	VulnerabilityID string
	RiskLevel       imagev1.RiskLevel
	Provider        string
	DetectedAfter   time.Time // inclusive
	DetectedBefore  time.Time // exclusive
	PageSize        int
	PageToken       string
}

const findingColumns = `f.seq, f.finding_id, f.event_id, f.scan_id, f.registry, f.repository, f.digest, s.tags,
	s.platform_digests, f.vulnerability_id, f.title, f.package_name, f.package_version, f.purl, f.severity,
	f.risk_level, f.risk_score, f.fixed_versions, f.detected_at, f.provider`

// ListFindings returns one page of findings, newest (highest sequence) first, and the next page's token
// ("" on the last page).
func (s *Store) ListFindings(ctx context.Context, f Filter) ([]Finding, string, error) {
	var where []string
	var args []any
	add := func(cond string, a ...any) { where = append(where, cond); args = append(args, a...) }
	if f.Repository != "" {
		add("f.repository = ?", f.Repository)
	}
	if f.Digest != "" {
		add("(f.digest = ? OR f.scan_id IN (SELECT scan_id FROM scan_platforms WHERE digest = ?))", f.Digest, f.Digest)
	}
	if f.VulnerabilityID != "" {
		add("f.vulnerability_id = ?", f.VulnerabilityID)
	}
	if f.RiskLevel != imagev1.RiskLevel_RISK_LEVEL_UNSPECIFIED {
		add("f.risk_level = ?", int(f.RiskLevel))
	}
	if f.Provider != "" {
		add("f.provider = ?", f.Provider)
	}
	if !f.DetectedAfter.IsZero() {
		add("f.detected_at >= ?", ms(f.DetectedAfter))
	}
	if !f.DetectedBefore.IsZero() {
		add("f.detected_at < ?", ms(f.DetectedBefore))
	}
	if f.PageToken != "" {
		after, err := parseToken(f.PageToken)
		if err != nil {
			return nil, "", err
		}
		add("f.seq < ?", after)
	}
	size := f.PageSize
	if size <= 0 {
		size = 100
	}
	size = min(size, 1000)
	q := `SELECT ` + findingColumns + ` FROM findings f JOIN scans s ON s.scan_id = f.scan_id`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY f.seq DESC LIMIT ?"
	args = append(args, size+1)
	out, err := s.queryFindings(ctx, q, args...)
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(out) > size {
		out = out[:size]
		next = "f" + strconv.FormatInt(out[size-1].Sequence, 10)
	}
	return out, next, nil
}

// ExportFindings returns up to limit findings with a sequence above after, in ascending sequence, and
// the highest finding sequence in the store.
func (s *Store) ExportFindings(ctx context.Context, after int64, limit int) ([]Finding, int64, error) {
	if limit <= 0 {
		limit = 1000
	}
	limit = min(limit, 10000)
	var last sql.NullInt64
	if err := s.r.QueryRowContext(ctx, `SELECT max(seq) FROM findings`).Scan(&last); err != nil {
		return nil, 0, fmt.Errorf("last sequence: %w", err)
	}
	out, err := s.queryFindings(ctx, `SELECT `+findingColumns+` FROM findings f JOIN scans s ON s.scan_id = f.scan_id
		WHERE f.seq > ? ORDER BY f.seq LIMIT ?`, after, limit)
	return out, last.Int64, err
}

func (s *Store) queryFindings(ctx context.Context, q string, args ...any) ([]Finding, error) {
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("query findings: %w", err)
	}
	defer rows.Close()
	var out []Finding
	for rows.Next() {
		var f Finding
		var tags, platforms, fixes string
		var level int
		var detected int64
		if err := rows.Scan(&f.Sequence, &f.FindingID, &f.EventID, &f.ScanID, &f.Registry, &f.Repository, &f.Digest,
			&tags, &platforms, &f.VulnerabilityID, &f.Title, &f.PackageName, &f.PackageVersion, &f.PURL, &f.Severity,
			&level, &f.RiskScore, &fixes, &detected, &f.Provider); err != nil {
			return nil, fmt.Errorf("read finding: %w", err)
		}
		f.RiskLevel = imagev1.RiskLevel(level)
		f.DetectedAt = time.UnixMilli(detected).UTC()
		_ = json.Unmarshal([]byte(tags), &f.Tags)
		_ = json.Unmarshal([]byte(platforms), &f.PlatformDigests)
		_ = json.Unmarshal([]byte(fixes), &f.FixedVersions)
		out = append(out, f)
	}
	return out, rows.Err()
}

func parseToken(tok string) (int64, error) {
	rest, ok := strings.CutPrefix(tok, "f")
	if !ok {
		return 0, ErrBadPageToken
	}
	n, err := strconv.ParseInt(rest, 10, 64)
	if err != nil || n <= 0 {
		return 0, ErrBadPageToken
	}
	return n, nil
}
