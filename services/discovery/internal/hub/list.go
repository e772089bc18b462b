package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/scoutbridge/scoutbridge/services/discovery/internal/discover"
)

var _ discover.Hub = (*Client)(nil)

// page is Docker Hub's paging envelope.
type page[T any] struct {
	Count   int     `json:"count"`
	Next    *string `json:"next"`
	Results []T     `json:"results"`
}

// hubTime parses Docker Hub timestamps: RFC 3339 with 0 to 9 fractional digits, null or "" as zero.
type hubTime time.Time

func (t *hubTime) UnmarshalJSON(b []byte) error {
	var s *string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	if s == nil || *s == "" {
		*t = hubTime{}
		return nil
	}
	v, err := time.Parse(time.RFC3339Nano, *s)
	if err != nil {
		return fmt.Errorf("timestamp %q: %w", *s, err)
	}
	*t = hubTime(v.UTC())
	return nil
}

type repositoryJSON struct {
	Name        string  `json:"name"`
	Namespace   string  `json:"namespace"`
	Status      int     `json:"status"`
	LastUpdated hubTime `json:"last_updated"`
}

type tagJSON struct {
	Name          string  `json:"name"`
	TagStatus     string  `json:"tag_status"`
	Status        string  `json:"status"` // the OpenAPI name; real answers say tag_status
	TagLastPushed hubTime `json:"tag_last_pushed"`
	LastUpdated   hubTime `json:"last_updated"`
	MediaType     string  `json:"media_type"`
	Digest        string  `json:"digest"`
	Images        []struct {
		Architecture string  `json:"architecture"`
		OS           string  `json:"os"`
		Variant      *string `json:"variant"`
		Digest       string  `json:"digest"`
	} `json:"images"`
}

func (t *tagJSON) domain() discover.Tag {
	status := t.TagStatus
	if status == "" {
		status = t.Status
	}
	pushed := time.Time(t.TagLastPushed)
	if pushed.IsZero() {
		pushed = time.Time(t.LastUpdated)
	}
	out := discover.Tag{Name: t.Name, Active: status == "active", PushedAt: pushed, MediaType: t.MediaType, Digest: t.Digest}
	for _, img := range t.Images {
		p := discover.PlatformImage{OS: img.OS, Architecture: img.Architecture, Digest: img.Digest}
		if img.Variant != nil {
			p.Variant = *img.Variant
		}
		out.Images = append(out.Images, p)
	}
	return out
}

// maxAnswer bounds one answer's size (a page of 100 tag objects is a few hundred KB).
const maxAnswer = 32 << 20

// getJSON GETs url and returns the answer's body. A 401 with a token logs in again and retries once.
func (c *Client) getJSON(ctx context.Context, rawURL string) ([]byte, error) {
	target, err := url.Parse(rawURL)
	if err != nil || (target.Scheme != "http" && target.Scheme != "https") || target.Host == "" {
		return nil, fmt.Errorf("docker hub gave an unusable URL %q", redactQuery(rawURL))
	}
	for reauth := false; ; reauth = true {
		jwt, err := c.token(ctx)
		if err != nil {
			return nil, err
		}
		if jwt != "" && !c.mayCarryToken(target) {
			return nil, fmt.Errorf("docker hub's next link points at %s://%s, outside %s://%s: the token is not sent there",
				target.Scheme, target.Host, c.base.Scheme, c.base.Host)
		}
		resp, err := c.send(ctx, func() (*http.Request, error) {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, target.String(), nil)
			if err != nil {
				return nil, fmt.Errorf("GET %s: %w", target.Path, err)
			}
			req.Header.Set("Accept", "application/json")
			if jwt != "" {
				req.Header.Set("Authorization", "Bearer "+jwt)
			}
			return req, nil
		})
		if err != nil {
			return nil, err
		}
		path := resp.Request.URL.Path
		switch resp.StatusCode {
		case http.StatusOK:
			defer drain(resp.Body)
			body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
			switch {
			case err != nil:
				if ctx.Err() != nil {
					return nil, ctx.Err()
				}
				return nil, fmt.Errorf("%w: GET %s: answer cut short: %v", discover.ErrUnavailable, path, unwrapURLError(err))
			case len(body) > maxAnswer:
				return nil, fmt.Errorf("GET %s: answer larger than %d MiB", path, maxAnswer>>20)
			}
			return body, nil
		case http.StatusUnauthorized:
			drain(resp.Body)
			if jwt != "" && !reauth {
				c.log.InfoContext(ctx, "docker hub token refused; logging in again", "path", path)
				c.forget(jwt)
				continue
			}
			return nil, fmt.Errorf("GET %s: %w", path, discover.ErrUnauthenticated)
		case http.StatusForbidden:
			drain(resp.Body)
			return nil, fmt.Errorf("GET %s: %w", path, discover.ErrPermissionDenied)
		case http.StatusNotFound:
			drain(resp.Body)
			return nil, fmt.Errorf("GET %s: %w", path, discover.ErrNotFound)
		default:
			drain(resp.Body)
			return nil, fmt.Errorf("GET %s: docker hub answered %d", path, resp.StatusCode)
		}
	}
}

// redactQuery drops the query of a URL for messages (it is Docker Hub's, but keep messages short).
func redactQuery(raw string) string {
	if i := strings.IndexAny(raw, "?#"); i >= 0 {
		return raw[:i]
	}
	return raw
}

// pages walks a listing from first, following next exactly as given; a 404 after the first page ends
// the list (Docker Hub's answer past the last page). A page is decoded whole; when that fails, item by
// item: an item Docker Hub wrote unreadably (a malformed timestamp, say) is logged and skipped, and
// the rest of the page is kept. It returns how many pages it read.
func pages[T any](ctx context.Context, c *Client, first string, fn func(T) bool) (int, error) {
	next := first
	n := 0
	for next != "" {
		n++
		body, err := c.getJSON(ctx, next)
		if err != nil {
			if n > 1 && errors.Is(err, discover.ErrNotFound) {
				return n, nil
			}
			return n, err
		}
		items, link, err := decodePage[T](ctx, c, body, next, n)
		if err != nil {
			return n, err
		}
		for _, item := range items {
			if !fn(item) {
				return n, nil
			}
		}
		next = link
	}
	return n, nil
}

// decodePage reads one page's items and its next link.
func decodePage[T any](ctx context.Context, c *Client, body []byte, at string, n int) ([]T, string, error) {
	var p page[T]
	err := json.Unmarshal(body, &p)
	if err != nil {
		var raw page[json.RawMessage]
		if json.Unmarshal(body, &raw) != nil {
			return nil, "", fmt.Errorf("%w: GET %s: unreadable answer: %v", discover.ErrUnavailable, redactQuery(at), err)
		}
		p = page[T]{Next: raw.Next, Results: make([]T, 0, len(raw.Results))}
		for i, item := range raw.Results {
			var v T
			if err := json.Unmarshal(item, &v); err != nil {
				c.log.WarnContext(ctx, "docker hub listing item unreadable; skipped", "url", redactQuery(at), "page", n, "item", i, "error", err.Error())
				continue
			}
			p.Results = append(p.Results, v)
		}
	}
	var next string
	if p.Next != nil {
		next = *p.Next
	}
	return p.Results, next, nil
}

// Organizations lists the organizations of the logged-in user.
func (c *Client) Organizations(ctx context.Context) ([]string, error) {
	if c.Anonymous() {
		return nil, fmt.Errorf("%w: anonymous access cannot list organizations; name namespaces in the request or DISCOVERY_NAMESPACES, or set DOCKERHUB_USERNAME and DOCKERHUB_TOKEN", discover.ErrNoNamespaces)
	}
	var orgs []string
	_, err := pages(ctx, c, c.cfg.BaseURL+"/v2/user/orgs/?page_size="+strconv.Itoa(c.cfg.PageSize), func(o struct {
		Orgname string `json:"orgname"`
	}) bool {
		if o.Orgname != "" {
			orgs = append(orgs, o.Orgname)
		}
		return true
	})
	return orgs, err
}

// Repositories lists a namespace's repositories, most recently updated first.
//
// Pages are numbered, so a push during a walk of several pages moves its repository to the front and
// shifts every later one down: the repository then sits on a page already read and is never seen. So
// after such a walk the front is read again, up to the newest repository of the first walk, and the
// repositories updated meanwhile are passed to fn too (some may come twice; the caller dedupes).
func (c *Client) Repositories(ctx context.Context, namespace string, fn func(discover.Repository) bool) error {
	first := fmt.Sprintf("%s/v2/namespaces/%s/repositories?page_size=%d&ordering=-last_updated", c.cfg.BaseURL, url.PathEscape(namespace), c.cfg.PageSize)
	convert := func(r repositoryJSON) discover.Repository {
		return discover.Repository{Namespace: namespace, Name: r.Name, Active: r.Status == 1, LastUpdated: time.Time(r.LastUpdated)}
	}
	var newest time.Time
	n, err := pages(ctx, c, first, func(r repositoryJSON) bool {
		repo := convert(r)
		if repo.LastUpdated.After(newest) {
			newest = repo.LastUpdated
		}
		return fn(repo)
	})
	if err != nil || n < 2 || newest.IsZero() {
		return err
	}
	// Docker Hub's own timestamps against each other: no dependence on this host's clock.
	_, err = pages(ctx, c, first, func(r repositoryJSON) bool {
		repo := convert(r)
		if repo.LastUpdated.IsZero() {
			return true // never pushed (listed first): not what moved
		}
		return repo.LastUpdated.After(newest) && fn(repo)
	})
	return err
}

// Tags lists every tag of one repository.
func (c *Client) Tags(ctx context.Context, namespace, repository string, fn func(discover.Tag)) error {
	first := fmt.Sprintf("%s/v2/namespaces/%s/repositories/%s/tags?page_size=%d", c.cfg.BaseURL, url.PathEscape(namespace), url.PathEscape(repository), c.cfg.PageSize)
	_, err := pages(ctx, c, first, func(t tagJSON) bool {
		fn(t.domain())
		return true
	})
	return err
}
