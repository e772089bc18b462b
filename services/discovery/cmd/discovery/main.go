// Command discovery serves DiscoveryService (:7071): which images were pushed to the configured Docker
// Hub namespaces inside a time window, one entry per digest. See ../../README.md for its settings.
package main

import (
	"context"
	"net/url"

	discoveryv1 "github.com/scoutbridge/scoutbridge/gen/scoutbridge/discovery/v1"
	"github.com/scoutbridge/scoutbridge/pkg/chassis"
	"github.com/scoutbridge/scoutbridge/pkg/config"
	"github.com/scoutbridge/scoutbridge/services/discovery/internal/discover"
	"github.com/scoutbridge/scoutbridge/services/discovery/internal/hub"
	"github.com/scoutbridge/scoutbridge/services/discovery/internal/server"
)

type settings struct {
	namespaces []string
	apiURL     string
	username   string
	token      config.Secret
}

func main() {
	var c settings
	chassis.Main(chassis.Program{
		Name:          "discovery",
		DefaultListen: ":7071",
		Config: func(s *config.Set) {
			s.List(&c.namespaces, "DISCOVERY_NAMESPACES", nil, "Docker Hub namespaces to discover when a request names none (comma list); empty: every organization of the user")
			s.String(&c.apiURL, "DOCKERHUB_API_URL", hub.DefaultBaseURL, "Docker Hub API base URL")
			s.String(&c.username, "DOCKERHUB_USERNAME", "", "Docker Hub user (or organization, for an organization access token)")
			s.Secret(&c.token, "DOCKERHUB_TOKEN", "Docker Hub personal/organization access token or password")
			s.Check(func() error { return check(c) })
		},
		Setup: func(ctx context.Context, app *chassis.App) error {
			client := hub.New(hub.Config{BaseURL: c.apiURL, Username: c.username, Token: c.token, Logger: app.Logger})
			if client.Anonymous() {
				app.Logger.InfoContext(ctx, "no Docker Hub credentials: anonymous mode, public repositories only; set DOCKERHUB_USERNAME and DOCKERHUB_TOKEN for private ones")
			}
			d := &discover.Discoverer{Hub: client, Namespaces: c.namespaces, Logger: app.Logger}
			discoveryv1.RegisterDiscoveryServiceServer(app.GRPC, server.New(d, app.Logger))
			app.Logger.InfoContext(ctx, "discovery configured", "api_url", c.apiURL, "namespaces", c.namespaces, "username", c.username)
			return nil
		},
	})
}

func check(c settings) error {
	u, err := url.Parse(c.apiURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return config.Invalid("DOCKERHUB_API_URL", "must be an http(s) URL like https://hub.docker.com")
	}
	if u.User != nil { // the URL is logged at start; credentials belong in DOCKERHUB_TOKEN(_FILE)
		return config.Invalid("DOCKERHUB_API_URL", "must not carry credentials (user:secret@); set DOCKERHUB_USERNAME and DOCKERHUB_TOKEN")
	}
	if c.token.IsSet() && c.username == "" {
		return config.Invalid("DOCKERHUB_USERNAME", "must be set when DOCKERHUB_TOKEN is (the token is exchanged for a user's JWT)")
	}
	if c.username != "" && !c.token.IsSet() {
		return config.Invalid("DOCKERHUB_TOKEN", "must be set (or DOCKERHUB_TOKEN_FILE) when DOCKERHUB_USERNAME is")
	}
	for _, ns := range c.namespaces {
		if err := (discover.Query{Namespaces: []string{ns}}).Validate(); err != nil {
			return config.Invalid("DISCOVERY_NAMESPACES", "%q is not a Docker Hub namespace", ns)
		}
	}
	return nil
}
