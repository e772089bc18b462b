package hub

import (
	"cmp"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// page is Docker Hub's paging envelope.
type page struct {
	Count    int     `json:"count"`
	Next     *string `json:"next"`
	Previous *string `json:"previous"`
	Results  []any   `json:"results"`
}

// paginate cuts items into the requested page; ok is false (404 answered) past the end.
func (h *Hub) paginate(w http.ResponseWriter, r *http.Request, items []any) {
	q := r.URL.Query()
	size := 10
	if v := q.Get("page_size"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			writeJSON(w, http.StatusBadRequest, map[string]any{"fields": map[string][]string{"page_size": {"A valid integer is required."}}, "text": "Invalid page_size"})
			return
		}
		size = min(n, 100)
	}
	num := 1
	if v := q.Get("page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			writeJSON(w, http.StatusNotFound, map[string]string{"detail": "Invalid page."})
			return
		}
		num = n
	}
	start := (num - 1) * size
	if start >= len(items) && num > 1 {
		writeJSON(w, http.StatusNotFound, map[string]string{"detail": "Invalid page."})
		return
	}
	end := min(start+size, len(items))
	p := page{Count: len(items), Results: items[start:end]}
	link := func(n int) *string {
		u := *r.URL
		qq := u.Query()
		qq.Set("page", strconv.Itoa(n))
		qq.Set("page_size", strconv.Itoa(size))
		s := h.publicBase(r) + u.EscapedPath() + "?" + qq.Encode()
		return &s
	}
	if end < len(items) {
		p.Next = link(num + 1)
	}
	if num > 1 {
		p.Previous = link(num - 1)
	}
	if p.Results == nil {
		p.Results = []any{}
	}
	writeJSON(w, http.StatusOK, p)
}

func (h *Hub) orgs(w http.ResponseWriter, r *http.Request) {
	if h.authOf(r) != authenticated {
		h.unauthorized(w)
		return
	}
	h.mu.Lock()
	var names []string
	for n := range h.namespaces {
		names = append(names, n)
	}
	h.mu.Unlock()
	slices.Sort(names)
	items := make([]any, 0, len(names))
	for i, n := range names {
		items = append(items, map[string]any{"id": strconv.Itoa(1000 + i), "orgname": n, "full_name": n, "type": "Organization", "badge": "verified_publisher"})
	}
	h.paginate(w, r, items)
}

type repoJSON struct {
	Name              string     `json:"name"`
	Namespace         string     `json:"namespace"`
	RepositoryType    string     `json:"repository_type"`
	Status            int        `json:"status"`
	StatusDescription string     `json:"status_description"`
	Description       string     `json:"description"`
	IsPrivate         bool       `json:"is_private"`
	StarCount         int        `json:"star_count"`
	PullCount         int64      `json:"pull_count"`
	LastUpdated       *string    `json:"last_updated"`
	LastModified      string     `json:"last_modified"`
	DateRegistered    string     `json:"date_registered"`
	Affiliation       string     `json:"affiliation"`
	MediaTypes        []string   `json:"media_types"`
	ContentTypes      []string   `json:"content_types"`
	Categories        []struct{} `json:"categories"`
	StorageSize       int64      `json:"storage_size"`
}

func (h *Hub) repositories(w http.ResponseWriter, r *http.Request) {
	auth := h.authOf(r)
	if auth == invalid {
		h.unauthorized(w)
		return
	}
	nsName := r.PathValue("ns")
	q := r.URL.Query()
	ordering := q.Get("ordering")
	switch strings.TrimPrefix(ordering, "-") {
	case "", "name", "last_updated", "pull_count":
	default:
		writeJSON(w, http.StatusBadRequest, map[string]any{"fields": map[string][]string{"ordering": {"Invalid ordering value. Must be one of: name, -name, last_updated, -last_updated, pull_count, -pull_count"}}, "text": "Invalid ordering value"})
		return
	}
	h.mu.Lock()
	ns := h.namespaces[nsName]
	if ns == nil {
		h.mu.Unlock()
		writeJSON(w, http.StatusNotFound, map[string]any{"message": "object not found", "errinfo": map[string]string{"namespace": nsName}})
		return
	}
	filter := q.Get("name")
	repos := make([]*repository, 0, len(ns.repos))
	for _, repo := range ns.repos {
		if repo.private && auth != authenticated {
			continue
		}
		if filter != "" && !strings.Contains(repo.name, filter) {
			continue
		}
		repos = append(repos, repo)
	}
	slices.SortFunc(repos, func(a, b *repository) int {
		var c int
		switch strings.TrimPrefix(ordering, "-") {
		case "last_updated":
			c = a.lastUpdated.Compare(b.lastUpdated)
		case "pull_count":
			c = cmp.Compare(a.id, b.id)
		}
		if strings.HasPrefix(ordering, "-") {
			c = -c
		}
		return cmp.Or(c, strings.Compare(a.name, b.name))
	})
	items := make([]any, 0, len(repos))
	for _, repo := range repos {
		items = append(items, repo.json())
	}
	h.mu.Unlock()
	h.paginate(w, r, items)
}

func (repo *repository) json() repoJSON {
	lu := formatTime(repo.lastUpdated, 6)
	status, description := 1, "active"
	if repo.inactive {
		status, description = 0, "inactive"
	}
	return repoJSON{
		Name: repo.name, Namespace: repo.namespace, RepositoryType: "image", Status: status, StatusDescription: description,
		IsPrivate: repo.private, PullCount: repo.id * 7, LastUpdated: &lu, LastModified: lu,
		DateRegistered: formatTime(repo.created, 6), Affiliation: "", MediaTypes: []string{MediaTypeImage},
		ContentTypes: []string{"image"}, Categories: []struct{}{}, StorageSize: 1 << 28,
	}
}

// imageJSON and tagJSON are shaped like real tag objects (see ../../shared fixtures): images is an
// array, the status field is tag_status, the push time is tag_last_pushed, digest may be absent.
type imageJSON struct {
	Architecture string  `json:"architecture"`
	Features     string  `json:"features"`
	Variant      *string `json:"variant"`
	Digest       string  `json:"digest"`
	OS           string  `json:"os"`
	OSFeatures   string  `json:"os_features"`
	OSVersion    *string `json:"os_version"`
	Size         int64   `json:"size"`
	Status       string  `json:"status"`
	LastPulled   *string `json:"last_pulled"`
	LastPushed   string  `json:"last_pushed"`
}

type tagJSON struct {
	Creator             int64       `json:"creator"`
	ID                  int64       `json:"id"`
	Images              []imageJSON `json:"images"`
	LastUpdated         string      `json:"last_updated"`
	LastUpdater         int64       `json:"last_updater"`
	LastUpdaterUsername string      `json:"last_updater_username"`
	Name                string      `json:"name"`
	Repository          int64       `json:"repository"`
	FullSize            int64       `json:"full_size"`
	V2                  bool        `json:"v2"`
	TagStatus           string      `json:"tag_status"`
	TagLastPulled       *string     `json:"tag_last_pulled"`
	TagLastPushed       string      `json:"tag_last_pushed"`
	MediaType           string      `json:"media_type"`
	ContentType         string      `json:"content_type"`
	Digest              string      `json:"digest,omitempty"`
}

func (t *tag) json(repo *repository) tagJSON {
	status := "active"
	if t.inactive {
		status = "inactive"
	}
	pushed := formatTime(t.pushedAt, t.fracDigit)
	out := tagJSON{
		Creator: 1495011, ID: t.id, LastUpdated: pushed, LastUpdater: 1495011, LastUpdaterUsername: "fakehub-ci",
		Name: t.name, Repository: repo.id, V2: true, TagStatus: status, TagLastPushed: pushed,
		MediaType: t.mediaType, ContentType: "image",
	}
	if !t.omitDig {
		out.Digest = t.digest
	}
	for i, img := range t.images {
		var variant *string
		if img.p.variant != "" {
			v := img.p.variant
			variant = &v
		}
		out.Images = append(out.Images, imageJSON{
			Architecture: img.p.arch, Variant: variant, Digest: img.digest, OS: img.p.os, Size: img.size,
			Status: status, LastPushed: formatTime(img.pushedAt, (t.fracDigit+i)%10),
		})
		if i == 0 {
			out.FullSize = img.size
		}
	}
	return out
}

func (h *Hub) findRepo(w http.ResponseWriter, r *http.Request) (*repository, bool) {
	auth := h.authOf(r)
	if auth == invalid {
		h.unauthorized(w)
		return nil, false
	}
	h.mu.Lock()
	var repo *repository
	if ns := h.namespaces[r.PathValue("ns")]; ns != nil {
		repo = ns.repos[r.PathValue("repo")]
	}
	h.mu.Unlock()
	if repo == nil || (repo.private && auth != authenticated) {
		writeJSON(w, http.StatusNotFound, map[string]any{"message": "object not found", "errinfo": map[string]string{"repository": r.PathValue("repo")}})
		return nil, false
	}
	return repo, true
}

func (h *Hub) tags(w http.ResponseWriter, r *http.Request) {
	repo, ok := h.findRepo(w, r)
	if !ok {
		return
	}
	ordering := r.URL.Query().Get("ordering")
	h.mu.Lock()
	tags := make([]*tag, 0, len(repo.tags))
	for _, t := range repo.tags {
		tags = append(tags, t)
	}
	// Docker Hub's default order is newest first.
	slices.SortFunc(tags, func(a, b *tag) int {
		var c int
		switch ordering {
		case "name":
			c = strings.Compare(a.name, b.name)
		case "-name":
			c = strings.Compare(b.name, a.name)
		case "last_updated":
			c = a.pushedAt.Compare(b.pushedAt)
		default:
			c = b.pushedAt.Compare(a.pushedAt)
		}
		return cmp.Or(c, strings.Compare(a.name, b.name))
	})
	items := make([]any, 0, len(tags))
	for _, t := range tags {
		items = append(items, t.json(repo))
	}
	h.mu.Unlock()
	h.paginate(w, r, items)
}

func (h *Hub) oneTag(w http.ResponseWriter, r *http.Request) {
	repo, ok := h.findRepo(w, r)
	if !ok {
		return
	}
	name := r.PathValue("tag")
	h.mu.Lock()
	t := repo.tags[name]
	var out tagJSON
	if t != nil {
		out = t.json(repo)
	}
	h.mu.Unlock()
	if t == nil {
		writeJSON(w, http.StatusNotFound, map[string]any{"message": "tag '" + name + "' not found", "errinfo": map[string]string{"namespace": repo.namespace, "repository": repo.name, "tag": name}})
		return
	}
	writeJSON(w, http.StatusOK, out)
}
