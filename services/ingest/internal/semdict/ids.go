package semdict

import (
	"crypto/sha256"
	"encoding/hex"
)

// FindingID is the stable finding.id: the same image (registry, repository, digest), vulnerability and
// package (purl) give the same id in every scan.
func FindingID(registry, repository, digest, vulnerabilityID, purl string) string {
	return hashHex("finding", registry, repository, digest, vulnerabilityID, purl)
}

// FindingEventID is the deterministic event.id of a finding's event in one scan: a record sent twice
// carries the same id, so a consumer can tell a re-send from a new detection.
func FindingEventID(scanID, findingID string) string {
	return uuidOf("finding-event", scanID, findingID)
}

// ScanEventID is the deterministic event.id of a scan's VULNERABILITY_SCAN event.
func ScanEventID(scanID string) string { return uuidOf("scan-event", scanID) }

func hashHex(parts ...string) string {
	sum := digest(parts...)
	return hex.EncodeToString(sum[:16])
}

// uuidOf formats a hash of parts as an RFC 9562 version 8 (custom) UUID.
func uuidOf(parts ...string) string {
	sum := digest(parts...)
	u := sum[:16]
	u[6] = (u[6] & 0x0f) | 0x80
	u[8] = (u[8] & 0x3f) | 0x80
	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:], u[10:16])
	return string(b[:])
}

func digest(parts ...string) [32]byte {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	var sum [32]byte
	h.Sum(sum[:0])
	return sum
}
