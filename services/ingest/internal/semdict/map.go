package semdict

import (
	"fmt"
	"math"
	"path"
	"slices"
	"strings"
	"time"

	imagev1 "github.com/scoutbridge/scoutbridge/gen/scoutbridge/image/v1"
	"github.com/scoutbridge/scoutbridge/pkg/risk"
)

// Event types and fixed values of Dynatrace's semantic dictionary.
const (
	TypeScan       = "VULNERABILITY_SCAN"
	TypeFinding    = "VULNERABILITY_FINDING"
	DefaultVendor  = "Docker"
	DefaultProduct = "Docker Scout"
	objectType     = "CONTAINER_IMAGE"
	findingType    = "DEPENDENCY_VULNERABILITY"
	defaultReg     = "docker.io"
)

// Options tune the mapping.
type Options struct {
	// Now is the ingest time, used when the report has no completion time (default time.Now).
	Now func() time.Time
	// OriginalContentCap bounds event.original_content in bytes (default DefaultOriginalContentCap).
	OriginalContentCap int
}

// Map turns a report into its events. It fails with a *FieldError when the report lacks something a
// required event field needs; then no event of the report is usable.
func Map(r *imagev1.ScanReport, opt Options) (*Batch, error) {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.OriginalContentCap == 0 {
		opt.OriginalContentCap = DefaultOriginalContentCap
	}
	if err := validateReport(r); err != nil {
		return nil, err
	}
	img := r.GetImage()
	b := &Batch{
		ScanID:     r.GetScanId(),
		Registry:   cmp(img.GetRegistry(), defaultReg),
		Repository: img.GetRepository(),
		Digest:     img.GetDigest(),
		Tags:       sortedCopy(img.GetTags()),
		Provider:   cmp(r.GetScanner().GetName(), DefaultProduct),
	}
	for _, p := range img.GetPlatforms() {
		if d := p.GetDigest(); d != "" && !slices.Contains(b.PlatformDigests, d) {
			b.PlatformDigests = append(b.PlatformDigests, d)
		}
	}
	completed := opt.Now().UTC()
	if r.GetCompletedAt() != nil {
		completed = r.GetCompletedAt().AsTime().UTC()
	}
	started := completed
	if r.GetStartedAt() != nil {
		started = r.GetStartedAt().AsTime().UTC()
	}
	b.CompletedAt = completed
	im := imageFacts{
		batch:    b,
		objectID: b.Repository + "@" + b.Digest,
		name:     objectName(b.Repository, b.Digest, b.Tags),
		vendor:   vendorOf(b.Provider),
		version:  r.GetScanner().GetVersion(),
		osName:   r.GetSbom().GetOsName(),
		osVer:    r.GetSbom().GetOsVersion(),
		platform: cmp(r.GetPlatform(), r.GetSbom().GetPlatform()),
	}

	seen := make(map[string]int, len(r.GetFindings()))
	for i, f := range r.GetFindings() {
		if err := validateFinding(i, f); err != nil {
			return nil, err
		}
		fe := im.finding(r.GetScanId(), f, completed, opt.OriginalContentCap)
		if j, dup := seen[fe.FindingID]; dup {
			// The same vulnerability in the same package twice: one finding, locations merged.
			mergeLocations(&b.Findings[j], f.GetLocations())
			continue
		}
		seen[fe.FindingID] = len(b.Findings)
		b.Findings = append(b.Findings, fe)
		b.Counts.Add(fe.RiskLevel)
	}
	b.Scan = im.scan(r, started, completed, opt.OriginalContentCap)
	return b, nil
}

func validateReport(r *imagev1.ScanReport) error {
	switch {
	case r == nil:
		return fieldErr("report", "missing")
	case strings.TrimSpace(r.GetScanId()) == "":
		return fieldErr("report.scan_id", "empty: scan.id is required")
	case r.GetImage().GetRepository() == "":
		return fieldErr("report.image.repository", "empty: container_image.repository and object.id are required")
	case r.GetImage().GetDigest() == "":
		return fieldErr("report.image.digest", "empty: container_image.digest and object.id are required")
	case !digestRE.MatchString(r.GetImage().GetDigest()):
		return fieldErr("report.image.digest", "%q is not sha256:<64 lowercase hex>", r.GetImage().GetDigest())
	case r.GetStatus() == imagev1.ScanStatus_SCAN_STATUS_FAILED && len(r.GetFindings()) > 0:
		return fieldErr("report.status", "a failed scan carries no findings")
	}
	return nil
}

func validateFinding(i int, f *imagev1.Finding) error {
	at := fmt.Sprintf("report.findings[%d]", i)
	switch {
	case f.GetVulnerabilityId() == "":
		return fieldErr(at+".vulnerability_id", "empty: vulnerability.id is required")
	case f.GetPackage().GetName() == "":
		return fieldErr(at+".package.name", "empty: component.name is required (finding %s)", f.GetVulnerabilityId())
	}
	if c := f.GetCvss(); c != nil && c.Score != nil {
		if s := c.GetScore(); math.IsNaN(s) || s < 0 || s > 10 {
			return fieldErr(at+".cvss.score", "%v is outside 0 to 10: vulnerability.cvss.base_score (finding %s)", s, f.GetVulnerabilityId())
		}
	}
	return nil
}

// imageFacts is what every event of one report shares.
type imageFacts struct {
	batch                   *Batch
	objectID, name          string
	vendor, version         string
	osName, osVer, platform string
}

func (im *imageFacts) common(e *Event, typ, eventID, scanID string) {
	b := im.batch
	e.setString("event.type", typ)
	e.setString("event.id", eventID)
	e.setString("event.provider", b.Provider)
	e.setString("product.vendor", im.vendor)
	e.setString("product.name", b.Provider)
	e.setString("product.version", im.version)
	e.setString("object.type", objectType)
	e.setString("object.id", im.objectID)
	e.setString("object.name", im.name)
	e.setString("scan.id", scanID)
	e.setString("scan.name", b.Provider+" scan of "+im.name)
}

func (im *imageFacts) image(e *Event) {
	b := im.batch
	e.setString("container_image.registry", b.Registry)
	e.setString("container_image.repository", b.Repository)
	e.setString("container_image.digest", b.Digest)
	e.setList("container_image.tags", b.Tags)
}

func (im *imageFacts) scan(r *imagev1.ScanReport, started, completed time.Time, limit int) ScanEvent {
	b := im.batch
	id := ScanEventID(b.ScanID)
	var e Event
	e.fields = make([]field, 0, 20)
	e.setString("timestamp", rfc3339(completed))
	im.common(&e, TypeScan, id, b.ScanID)
	e.setString("event.description", scanDescription(b.Provider, im.name, len(b.Findings), b.Counts, r.GetStatus()))
	status := "Completed"
	if r.GetStatus() == imagev1.ScanStatus_SCAN_STATUS_FAILED {
		status = "Failed"
	}
	e.setString("scan.status", status)
	e.setString("scan.time.started", rfc3339(started))
	e.setString("scan.time.completed", rfc3339(completed))
	im.image(&e)
	im.os(&e)
	e.setString("event.original_content", originalContent(originalOfScan(r), limit))
	return ScanEvent{EventID: id, Event: e}
}

func (im *imageFacts) os(e *Event) {
	e.setString("os.name", im.osName)
	e.setString("os.version", im.osVer)
	if osType, arch, ok := strings.Cut(im.platform, "/"); ok {
		e.setString("os.type", strings.ToUpper(osType))
		e.setString("os.architecture", arch)
	}
}

func (im *imageFacts) finding(scanID string, f *imagev1.Finding, detected time.Time, limit int) FindingEvent {
	b := im.batch
	pkg := f.GetPackage()
	purl := cmp(pkg.GetPurl(), fmt.Sprintf("pkg:%s/%s@%s", pkg.GetType(), qualifiedName(pkg), pkg.GetVersion()))
	fid := FindingID(b.Registry, b.Repository, b.Digest, f.GetVulnerabilityId(), purl)
	eid := FindingEventID(scanID, fid)
	score := risk.VendorScore(f)
	level, normScore := risk.Normalize(score, f.GetSeverity())
	name, version := qualifiedName(pkg), pkg.GetVersion()
	sev := severityWord(f.GetSeverity())
	fixes := f.GetFixedVersions()
	fe := FindingEvent{
		FindingID: fid, EventID: eid, VulnerabilityID: f.GetVulnerabilityId(),
		Title:       cmp(f.GetTitle(), f.GetVulnerabilityId()),
		PackageName: name, PackageVersion: version, PURL: purl, Severity: sev,
		RiskLevel: level, RiskScore: normScore, FixedVersions: fixes, DetectedAt: detected,
	}
	e := &fe.Event
	e.fields = make([]field, 0, 48)
	e.setString("timestamp", rfc3339(detected))
	im.common(e, TypeFinding, eid, scanID)
	e.setString("event.description", fmt.Sprintf("%s (%s) in %s of %s", f.GetVulnerabilityId(), risk.LevelName(level), nameVersion(name, version), im.name))
	e.setString("finding.id", fid)
	e.setString("finding.type", findingType)
	e.setString("finding.title", f.GetVulnerabilityId()+" in "+nameVersion(name, version))
	e.setString("finding.time.created", rfc3339(detected))
	e.setString("finding.severity", sev)
	if score != nil {
		e.setFloat("finding.score", *score)
	}
	e.setString("dt.security.risk.level", risk.LevelName(level))
	e.setFloat("dt.security.risk.score", normScore)
	e.setString("vulnerability.id", f.GetVulnerabilityId())
	e.setString("vulnerability.title", fe.Title)
	e.setString("vulnerability.description", f.GetDescription())
	e.setString("vulnerability.url", f.GetHelpUri())
	if strings.HasPrefix(f.GetVulnerabilityId(), "CVE-") {
		e.setList("vulnerability.references.cve", []string{f.GetVulnerabilityId()})
	}
	if score != nil {
		e.setFloat("vulnerability.cvss.base_score", *score)
	}
	e.setString("vulnerability.cvss.version", cvssVersion(f.GetCvss()))
	e.setString("vulnerability.cvss.vector", f.GetCvss().GetVector())
	e.setString("vulnerability.affected_range", f.GetAffectedRange())
	if len(fixes) > 0 {
		e.setString("vulnerability.remediation.status", "AVAILABLE")
		e.setList("vulnerability.remediation.fix_versions", fixes)
		e.setString("vulnerability.remediation.description", fmt.Sprintf("Upgrade %s to %s or later", name, strings.Join(fixes, " or ")))
	} else {
		e.setString("vulnerability.remediation.status", "NOT_AVAILABLE")
		e.setString("vulnerability.remediation.description", "No fixed version of "+name+" is available yet")
	}
	e.setString("component.name", name)
	e.setString("component.version", version)
	e.setString("software_component.name", name)
	e.setString("software_component.version", version)
	e.setString("software_component.type", componentType(pkg.GetType()))
	e.setString("software_component.ecosystem", pkg.GetType())
	e.setString("software_component.purl", purl)
	e.setString("software_component.supplier.name", pkg.GetSupplier())
	locs := sortedCopy(f.GetLocations())
	if len(locs) > 0 {
		e.setString("artifact.path", locs[0])
		e.setString("artifact.filename", path.Base(locs[0]))
		e.setList("artifact.paths", locs)
	}
	im.image(e)
	if isOSPackage(pkg.GetType()) {
		im.os(e)
	}
	e.setString("event.original_content", originalContent(originalOfFinding(f), limit))
	return fe
}

// mergeLocations adds locations of a repeated finding to the one already mapped.
func mergeLocations(fe *FindingEvent, more []string) {
	if len(more) == 0 {
		return
	}
	var locs []string
	if v, ok := fe.Event.Get("artifact.paths"); ok {
		locs = v.([]string)
	}
	locs = append(slices.Clone(locs), more...)
	slices.Sort(locs)
	locs = slices.Compact(locs)
	out := fe.Event.fields[:0:0]
	for _, f := range fe.Event.fields {
		switch f.key {
		case "artifact.path", "artifact.filename", "artifact.paths":
			continue
		case "container_image.registry":
			out = append(out, field{key: "artifact.path", str: locs[0]}, field{key: "artifact.filename", str: path.Base(locs[0])},
				field{key: "artifact.paths", list: locs, kind: kindList})
		}
		out = append(out, f)
	}
	fe.Event.fields = out
}

func scanDescription(provider, name string, n int, c Counts, status imagev1.ScanStatus) string {
	if status == imagev1.ScanStatus_SCAN_STATUS_FAILED {
		return fmt.Sprintf("%s could not scan %s", provider, name)
	}
	if n == 0 {
		return fmt.Sprintf("%s scanned %s: no findings", provider, name)
	}
	var parts []string
	for _, p := range []struct {
		n    int64
		word string
	}{{c.Critical, "critical"}, {c.High, "high"}, {c.Medium, "medium"}, {c.Low, "low"}, {c.None, "none"}} {
		if p.n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", p.n, p.word))
		}
	}
	noun := "findings"
	if n == 1 {
		noun = "finding"
	}
	return fmt.Sprintf("%s scanned %s: %d %s (%s)", provider, name, n, noun, strings.Join(parts, ", "))
}

// qualifiedName is the package name a user knows: npm scopes, Go module paths and Maven groups are part
// of it; a Linux distribution's namespace ("debian") is not.
func qualifiedName(p *imagev1.Package) string {
	ns := p.GetNamespace()
	if ns == "" || isOSPackage(p.GetType()) {
		return p.GetName()
	}
	if p.GetType() == "maven" {
		return ns + ":" + p.GetName()
	}
	return ns + "/" + p.GetName()
}

func isOSPackage(typ string) bool {
	switch typ {
	case "deb", "apk", "rpm", "alpm", "alpine", "debian":
		return true
	}
	return false
}

func componentType(typ string) string {
	switch {
	case typ == "":
		return ""
	case isOSPackage(typ):
		return "OS_PACKAGE"
	default:
		return "LIBRARY"
	}
}

func severityWord(s imagev1.Severity) string {
	switch s {
	case imagev1.Severity_SEVERITY_CRITICAL:
		return "CRITICAL"
	case imagev1.Severity_SEVERITY_HIGH:
		return "HIGH"
	case imagev1.Severity_SEVERITY_MEDIUM:
		return "MEDIUM"
	case imagev1.Severity_SEVERITY_LOW:
		return "LOW"
	default:
		return "UNSPECIFIED"
	}
}

func cvssVersion(c *imagev1.Cvss) string {
	if v := c.GetVersion(); v != "" {
		return v
	}
	if rest, ok := strings.CutPrefix(c.GetVector(), "CVSS:"); ok {
		v, _, _ := strings.Cut(rest, "/")
		return v
	}
	return ""
}

func objectName(repo, digest string, tags []string) string {
	if len(tags) > 0 {
		return repo + ":" + tags[0]
	}
	return repo + "@" + digest
}

func vendorOf(provider string) string {
	if provider == DefaultProduct {
		return DefaultVendor
	}
	return provider
}

func nameVersion(name, version string) string {
	if version == "" {
		return name
	}
	return name + " " + version
}

func rfc3339(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

func cmp(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func sortedCopy(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	c := slices.Clone(s)
	slices.Sort(c)
	return slices.Compact(c)
}
