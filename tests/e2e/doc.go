// Package e2e holds the cross-service tests: the five services as real processes on loopback with the
// stand-ins for Docker Hub, Docker Scout (a real Docker CLI plugin driven by the real docker binary) and
// Dynatrace, and the same scenario through docker compose (SCOUTBRIDGE_COMPOSE_TEST=1).
package e2e
