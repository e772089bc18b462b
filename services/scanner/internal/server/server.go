// Package server is the gRPC face of the scanner: it turns ScannerService requests into calls of the
// scan domain and maps every domain error to a status code in one place (errors.go).
package server

import (
	"context"
	"log/slog"

	scannerv1 "github.com/scoutbridge/scoutbridge/gen/scoutbridge/scanner/v1"
	"github.com/scoutbridge/scoutbridge/services/scanner/internal/scan"
)

// Server implements scannerv1.ScannerServiceServer.
type Server struct {
	scannerv1.UnimplementedScannerServiceServer
	scans  *scan.Service
	logger *slog.Logger
}

// New builds a Server.
func New(scans *scan.Service, logger *slog.Logger) *Server {
	return &Server{scans: scans, logger: logger}
}

// ScanImage scans one image digest.
func (s *Server) ScanImage(ctx context.Context, req *scannerv1.ScanImageRequest) (*scannerv1.ScanImageResponse, error) {
	res, err := s.scans.Scan(ctx, scan.Request{Image: req.GetImage(), Platform: req.GetPlatform(), Force: req.GetForce()})
	if err != nil {
		return nil, s.status(ctx, req, err)
	}
	return &scannerv1.ScanImageResponse{Report: res.Report, Cached: res.Cached}, nil
}

// GetScannerInfo says which backend runs and whether it is ready.
func (s *Server) GetScannerInfo(ctx context.Context, _ *scannerv1.GetScannerInfoRequest) (*scannerv1.GetScannerInfoResponse, error) {
	r := s.scans.Ready()
	conc, running, queued := s.scans.Load()
	return &scannerv1.GetScannerInfoResponse{
		Backend: "docker-scout", Version: r.Version, Ready: r.Ready, Reason: r.Reason,
		Concurrency: int32(conc), Running: int32(running), Queued: int32(queued),
	}, nil
}
