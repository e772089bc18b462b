package hub

import (
	"net"
	"net/url"
	"strings"
)

// mayCarryToken says whether the bearer token may be sent to u. Docker Hub's `next` links are
// followed exactly as given and may name another host (registry.hub.docker.com for an API at
// hub.docker.com), but the token only goes to the API's own host or to hosts under its parent domain
// (*.docker.com), and never over plain http when the API is https. Go's own http.Client drops
// Authorization on redirects to other domains for the same reason.
func (c *Client) mayCarryToken(u *url.URL) bool {
	if c.base.Scheme == "https" && u.Scheme != "https" {
		return false
	}
	host, base := strings.ToLower(u.Hostname()), strings.ToLower(c.base.Hostname())
	if base == "" || host == "" {
		return false
	}
	if host == base {
		return true
	}
	if net.ParseIP(base) != nil {
		return false
	}
	labels := strings.Split(base, ".")
	if len(labels) < 3 {
		return false // "docker.com" trusts only itself, never all of ".com"
	}
	parent := strings.Join(labels[1:], ".")
	return host == parent || strings.HasSuffix(host, "."+parent)
}
