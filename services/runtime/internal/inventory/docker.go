package inventory

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// StageNames are the environment variable and label names that carry a container's release stage and
// product (configurable: RUNTIME_STAGE_ENV, RUNTIME_STAGE_LABEL, RUNTIME_PRODUCT_ENV, RUNTIME_PRODUCT_LABEL).
type StageNames struct {
	StageEnv     string
	StageLabel   string
	ProductEnv   string
	ProductLabel string
}

// DefaultStageNames are Dynatrace's names.
var DefaultStageNames = StageNames{
	StageEnv: "DT_RELEASE_STAGE", StageLabel: "dynatrace-release-stage",
	ProductEnv: "DT_RELEASE_PRODUCT", ProductLabel: "dynatrace-release-product",
}

// Docker reads running containers from the Docker Engine API.
type Docker struct {
	base   string
	client *http.Client
	names  StageNames
}

// NewDocker connects to host as DOCKER_HOST spells it: "" (the local socket), unix:///path,
// tcp://host:port or http(s)://host:port.
func NewDocker(host string, names StageNames) (*Docker, error) {
	if host == "" {
		host = "unix:///var/run/docker.sock"
	}
	u, err := url.Parse(host)
	if err != nil {
		return nil, fmt.Errorf("DOCKER_HOST %q: %w", host, err)
	}
	d := &Docker{names: names}
	switch u.Scheme {
	case "unix":
		path := u.Path
		tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var dl net.Dialer
			return dl.DialContext(ctx, "unix", path)
		}}
		d.client = &http.Client{Transport: tr, Timeout: 30 * time.Second}
		d.base = "http://docker"
	case "tcp", "http":
		d.client = &http.Client{Timeout: 30 * time.Second}
		d.base = "http://" + u.Host
	case "https":
		d.client = &http.Client{Timeout: 30 * time.Second}
		d.base = "https://" + u.Host
	default:
		return nil, fmt.Errorf("DOCKER_HOST %q: scheme must be unix, tcp, http or https", host)
	}
	return d, nil
}

// Name is "docker".
func (d *Docker) Name() string { return "docker" }

type dockerListed struct {
	ID                      string            `json:"Id"`
	Names                   []string          `json:"Names"`
	Image                   string            `json:"Image"`
	ImageID                 string            `json:"ImageID"`
	State                   string            `json:"State"`
	Labels                  map[string]string `json:"Labels"`
	ImageManifestDescriptor *struct {
		Digest string `json:"digest"`
	} `json:"ImageManifestDescriptor"`
}

type dockerInspect struct {
	Name   string `json:"Name"`
	Config struct {
		Env    []string          `json:"Env"`
		Labels map[string]string `json:"Labels"`
		Image  string            `json:"Image"`
	} `json:"Config"`
	State struct {
		Status string `json:"Status"`
	} `json:"State"`
}

type dockerImage struct {
	ID          string   `json:"Id"`
	RepoDigests []string `json:"RepoDigests"`
}

// Poll lists running containers with their stage and image digests. An image that was never pushed
// has no repository digest; it is matched by its config digest (the image id) only.
func (d *Docker) Poll(ctx context.Context) ([]Container, error) {
	var info struct {
		Name string `json:"Name"`
	}
	if err := d.get(ctx, "/info", &info); err != nil {
		return nil, err
	}
	var listed []dockerListed
	if err := d.get(ctx, "/containers/json", &listed); err != nil {
		return nil, err
	}
	images := map[string]dockerImage{}
	var out []Container
	for _, l := range listed {
		if l.State != "" && l.State != "running" {
			continue
		}
		var in dockerInspect
		if err := d.get(ctx, "/containers/"+url.PathEscape(l.ID)+"/json", &in); err != nil {
			if isNotFound(err) { // gone between the list and the inspect
				continue
			}
			return nil, err
		}
		img, ok := images[l.ImageID]
		if !ok {
			if err := d.get(ctx, "/images/"+url.PathEscape(l.ImageID)+"/json", &img); err != nil && !isNotFound(err) {
				return nil, err
			}
			images[l.ImageID] = img
		}
		env := envMap(in.Config.Env)
		labels := in.Config.Labels
		if labels == nil {
			labels = l.Labels
		}
		c := Container{
			ID: l.ID, Name: strings.TrimPrefix(in.Name, "/"), Host: info.Name, State: "running",
			Workload:  labels["com.docker.compose.service"],
			Stage:     firstNonEmpty(env[d.names.StageEnv], labels[d.names.StageLabel]),
			Product:   firstNonEmpty(env[d.names.ProductEnv], labels[d.names.ProductLabel]),
			ImageName: l.Image,
		}
		if c.Name == "" && len(l.Names) > 0 {
			c.Name = strings.TrimPrefix(l.Names[0], "/")
		}
		for _, rd := range img.RepoDigests {
			c.Digests = addDigest(c.Digests, rd)
			if c.ImageName == "" || strings.HasPrefix(c.ImageName, "sha256:") {
				c.ImageName = rd[:max(strings.LastIndex(rd, "@"), 0)]
			}
		}
		if l.ImageManifestDescriptor != nil {
			c.Digests = addDigest(c.Digests, l.ImageManifestDescriptor.Digest)
		}
		c.Digests = addDigest(c.Digests, l.ImageID)
		if len(c.Digests) > 0 {
			c.ImageDigest = c.Digests[0]
		}
		out = append(out, c)
	}
	return out, nil
}

type httpStatusError struct {
	what   string
	status int
	body   string
}

func (e *httpStatusError) Error() string {
	return fmt.Sprintf("%s: HTTP %d: %s", e.what, e.status, e.body)
}

func isNotFound(err error) bool {
	se, ok := err.(*httpStatusError)
	return ok && se.status == http.StatusNotFound
}

func (d *Docker) get(ctx context.Context, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.base+path, nil)
	if err != nil {
		return err
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return fmt.Errorf("docker engine GET %s: %w", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return &httpStatusError{what: "docker engine GET " + path, status: resp.StatusCode, body: strings.TrimSpace(string(b))}
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("docker engine GET %s: decode: %w", path, err)
	}
	return nil
}

func envMap(env []string) map[string]string {
	m := make(map[string]string, len(env))
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}
