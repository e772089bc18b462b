// Package scan is the scanner's domain: it validates what to scan, bounds the work (a few Scout
// processes at once, a bounded wait queue), runs Scout once per digest and platform however many callers
// ask at the same time, keeps finished reports for a while, and turns Scout's output into a ScanReport.
// It knows nothing of gRPC; internal/server maps its errors to status codes.
package scan
