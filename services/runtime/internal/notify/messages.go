package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/scoutbridge/scoutbridge/pkg/config"
	"github.com/scoutbridge/scoutbridge/pkg/risk"
	"github.com/scoutbridge/scoutbridge/services/runtime/internal/readmodel"
)

// Slack posts to a Slack incoming webhook.
type Slack struct{ p poster }

// NewSlack sends to the incoming webhook URL (a secret: it grants posting).
func NewSlack(url config.Secret, timeout time.Duration) *Slack {
	return &Slack{p: poster{url: url, client: httpClient(timeout)}}
}

// Name is "slack".
func (s *Slack) Name() string { return "slack" }

// Send posts the message.
func (s *Slack) Send(ctx context.Context, rowID string, body []byte) error {
	return s.p.post(ctx, rowID, body)
}

// Body renders a readable Slack message with links to the advisory and the repository.
func (s *Slack) Body(r readmodel.Row) ([]byte, error) {
	var b strings.Builder
	fmt.Fprintf(&b, ":rotating_light: *New %s vulnerability <%s|%s>* in `%s %s`\n", risk.LevelName(r.RiskLevel),
		VulnerabilityURL(r.VulnerabilityID), slackEscape(r.VulnerabilityID), slackEscape(r.PackageName), slackEscape(r.PackageVersion))
	if r.Title != "" {
		fmt.Fprintf(&b, "%s\n", slackEscape(r.Title))
	}
	repo := slackEscape(r.Registry + "/" + r.Repository)
	if u := RepositoryURL(r.Registry, r.Repository); u != "" {
		repo = "<" + u + "|" + repo + ">"
	}
	fmt.Fprintf(&b, "*Repository:* %s · *Images:* %d · *First seen:* %s\n", repo, len(r.Images), r.FirstSeen.UTC().Format(time.RFC3339))
	if len(r.FixedVersions) > 0 {
		fmt.Fprintf(&b, "*Fixed in:* %s\n", slackEscape(strings.Join(r.FixedVersions, ", ")))
	} else {
		b.WriteString("*Fixed in:* no fix yet\n")
	}
	for _, im := range r.Images {
		short := im.Digest
		if len(short) > 19 {
			short = short[:19] + "…"
		}
		var cs []string
		for _, c := range im.Containers {
			where := c.Source
			if c.Namespace != "" {
				where += ", ns " + c.Namespace
			}
			if c.Host != "" {
				where += ", " + c.Host
			}
			cs = append(cs, slackEscape(fmt.Sprintf("%s (%s, %s)", c.Name, readmodel.StageName(c.Stage), where)))
		}
		tags := "untagged"
		if len(im.Tags) > 0 {
			tags = slackEscape(strings.Join(im.Tags, ", "))
		}
		fmt.Fprintf(&b, "• `%s` (%s): %s\n", short, tags, strings.Join(cs, "; "))
	}
	text := strings.TrimRight(b.String(), "\n")
	return json.Marshal(map[string]any{"text": text, "unfurl_links": false})
}

// slackEscape escapes the three characters Slack's mrkdwn reserves, so a title such as "foo < 1.2"
// cannot break the message or forge a link.
var slackEscape = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace

// JSON posts the row as JSON to a generic webhook, signed when a secret is set.
type JSON struct{ p poster }

// NewJSON sends to url; secret (optional) signs the body.
func NewJSON(url string, secret config.Secret, timeout time.Duration) *JSON {
	return &JSON{p: poster{url: config.NewSecret(url), client: httpClient(timeout), secret: secret}}
}

// Name is "webhook".
func (j *JSON) Name() string { return "webhook" }

// Send posts the message.
func (j *JSON) Send(ctx context.Context, rowID string, body []byte) error {
	return j.p.post(ctx, rowID, body)
}

// Event is the generic webhook's JSON body.
type Event struct {
	Event               string       `json:"event"`
	RowID               string       `json:"row_id"`
	VulnerabilityID     string       `json:"vulnerability_id"`
	Title               string       `json:"title"`
	Provider            string       `json:"provider"`
	Registry            string       `json:"registry"`
	Repository          string       `json:"repository"`
	PackageName         string       `json:"package_name"`
	PackageVersion      string       `json:"package_version"`
	RiskLevel           string       `json:"risk_level"`
	RiskScore           float64      `json:"risk_score"`
	AffectedImagesCount int          `json:"affected_images_count"`
	FirstSeen           time.Time    `json:"first_seen"`
	LastSeen            time.Time    `json:"last_seen"`
	FixedVersions       []string     `json:"fixed_versions"`
	VulnerabilityURL    string       `json:"vulnerability_url"`
	Images              []EventImage `json:"images"`
}

// EventImage is one affected image.
type EventImage struct {
	Digest     string           `json:"digest"`
	Tags       []string         `json:"tags"`
	Containers []EventContainer `json:"containers"`
}

// EventContainer is one container running an affected image.
type EventContainer struct {
	Name         string    `json:"name"`
	Workload     string    `json:"workload,omitempty"`
	Namespace    string    `json:"namespace,omitempty"`
	Host         string    `json:"host,omitempty"`
	ReleaseStage string    `json:"release_stage"`
	Product      string    `json:"product,omitempty"`
	Source       string    `json:"source"`
	LastSeen     time.Time `json:"last_seen"`
}

// Body renders the row as an Event.
func (j *JSON) Body(r readmodel.Row) ([]byte, error) {
	ev := Event{Event: "scoutbridge.new_prioritized_finding", RowID: r.RowID, VulnerabilityID: r.VulnerabilityID, Title: r.Title,
		Provider: r.Provider, Registry: r.Registry, Repository: r.Repository, PackageName: r.PackageName,
		PackageVersion: r.PackageVersion, RiskLevel: risk.LevelName(r.RiskLevel), RiskScore: r.RiskScore,
		AffectedImagesCount: len(r.Images), FirstSeen: r.FirstSeen, LastSeen: r.LastSeen,
		FixedVersions: append([]string{}, r.FixedVersions...), VulnerabilityURL: VulnerabilityURL(r.VulnerabilityID)}
	for _, im := range r.Images {
		ei := EventImage{Digest: im.Digest, Tags: append([]string{}, im.Tags...), Containers: []EventContainer{}}
		for _, c := range im.Containers {
			ei.Containers = append(ei.Containers, EventContainer{Name: c.Name, Workload: c.Workload, Namespace: c.Namespace,
				Host: c.Host, ReleaseStage: readmodel.StageName(c.Stage), Product: c.Product, Source: c.Source, LastSeen: c.LastSeen.UTC()})
		}
		ev.Images = append(ev.Images, ei)
	}
	return json.Marshal(ev)
}

// VulnerabilityURL links an advisory in Docker Scout's database (CVE, GHSA and others).
func VulnerabilityURL(id string) string { return "https://scout.docker.com/v/" + id }

// RepositoryURL links a Docker Hub repository; "" for other registries.
func RepositoryURL(registry, repository string) string {
	if registry != "docker.io" && registry != "" {
		return ""
	}
	if name, ok := strings.CutPrefix(repository, "library/"); ok {
		return "https://hub.docker.com/_/" + name
	}
	return "https://hub.docker.com/r/" + repository
}
