package discover

import (
	"fmt"
	"path"
	"regexp"
	"strings"
	"time"
)

// Query says where and when to look. The zero After is the beginning of time; the zero Before is now.
type Query struct {
	Namespaces          []string
	Repositories        []string // globs on "repo" or "namespace/repo"; empty: all
	ExcludeRepositories []string
	Tags                []string // globs on the tag; empty: all
	ExcludeTags         []string
	After               time.Time // inclusive
	Before              time.Time // exclusive
}

// namespaceRE is what Docker Hub accepts as a user or organization name (and keeps URLs clean).
var namespaceRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,254}$`)

// Validate says everything wrong with the query at once; the error wraps ErrInvalid.
func (q Query) Validate() error {
	var errs []error
	if !q.After.IsZero() && !q.Before.IsZero() && q.After.After(q.Before) {
		errs = append(errs, fmt.Errorf("pushed_after (%s) is after pushed_before (%s)",
			q.After.UTC().Format(time.RFC3339Nano), q.Before.UTC().Format(time.RFC3339Nano)))
	}
	for _, ns := range q.Namespaces {
		if !namespaceRE.MatchString(strings.ToLower(strings.TrimSpace(ns))) {
			errs = append(errs, fmt.Errorf("namespace %q is not a Docker Hub namespace (lowercase letters, digits, '-' and '_')", ns))
		}
	}
	check := func(field string, patterns []string) {
		for _, p := range patterns {
			if p == "" || strings.Count(p, "/") > 1 {
				errs = append(errs, fmt.Errorf("%s: %q is not a glob like \"api-*\" or \"acme/api-*\"", field, p))
				continue
			}
			if _, err := path.Match(p, ""); err != nil {
				errs = append(errs, fmt.Errorf("%s: %q is a malformed glob: %v", field, p, err))
			}
		}
	}
	check("repository_patterns", q.Repositories)
	check("exclude_repository_patterns", q.ExcludeRepositories)
	checkTags := func(field string, patterns []string) {
		for _, p := range patterns {
			if _, err := path.Match(p, ""); err != nil || p == "" || strings.Contains(p, "/") {
				errs = append(errs, fmt.Errorf("%s: %q is not a tag glob like \"v*\"", field, p))
			}
		}
	}
	checkTags("tag_patterns", q.Tags)
	checkTags("exclude_tag_patterns", q.ExcludeTags)
	if len(errs) == 0 {
		return nil
	}
	msgs := make([]string, len(errs))
	for i, err := range errs {
		msgs[i] = err.Error()
	}
	// One line: a status message with newlines reads badly in grpcurl and in logs.
	return fmt.Errorf("%w: %s", ErrInvalid, strings.Join(msgs, "; "))
}

// wantRepository applies the repository include and exclude globs; a glob with a '/' matches
// "namespace/repo", one without matches "repo".
func (q Query) wantRepository(namespace, name string) bool {
	match := func(patterns []string) bool {
		for _, p := range patterns {
			subject := name
			if strings.Contains(p, "/") {
				subject = namespace + "/" + name
			}
			if ok, _ := path.Match(p, subject); ok {
				return true
			}
		}
		return false
	}
	if len(q.Repositories) > 0 && !match(q.Repositories) {
		return false
	}
	return !match(q.ExcludeRepositories)
}

// wantTag applies the tag include and exclude globs.
func (q Query) wantTag(name string) bool {
	match := func(patterns []string) bool {
		for _, p := range patterns {
			if ok, _ := path.Match(p, name); ok {
				return true
			}
		}
		return false
	}
	if len(q.Tags) > 0 && !match(q.Tags) {
		return false
	}
	return !match(q.ExcludeTags)
}

// inWindow says whether t is inside [After, Before).
func (q Query) inWindow(t time.Time) bool {
	return !t.Before(q.After) && t.Before(q.Before)
}
