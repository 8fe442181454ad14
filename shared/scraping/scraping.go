// Package scraping builds the scraping configuration Symbolicator uses to
// fetch source files and source maps from a project's own servers
// (SEMANTICS §2).
package scraping

import (
	"fmt"
	"slices"
	"strings"

	"github.com/symflow/symflow/shared/project"
)

// DefaultTokenHeader carries the project's security token when the project
// names no header of its own.
const DefaultTokenHeader = "X-Sentry-Token"

// HiddenValue stands for a header value (the project's security token)
// wherever a Scraping leaves the store, as {"hidden-secret": true} does for
// symbol sources; headers are plain strings, so the placeholder is one too.
const HiddenValue = "[hidden-secret]"

// Scraping is the "scraping" object of a Symbolicator request.
type Scraping struct {
	Enabled bool `json:"enabled"`
	// Headers are sent with every scraping request; never nil, so the JSON
	// is {} rather than null.
	Headers map[string]string `json:"headers"`
	// AllowedOrigins are the origins scraping may fetch from; never nil.
	AllowedOrigins []string `json:"allowed_origins"`
	VerifySSL      bool     `json:"verify_ssl"`
}

// Config returns the scraping configuration of p.
//
// enabled is the organization's and the project's scrape_javascript, each
// defaulting to true; verify_ssl is the project's verify_ssl, default true,
// and is sent whether or not scraping is enabled.
//
// When enabled, allowed_origins are the project's allowed origins as the
// reference's get_origins normalizes them: lowercased, trailing "/"
// removed, empty ones dropped, duplicates removed (sorted, where the
// reference returns an unordered set), and ["*"] when the project has none
// configured (nil); an explicitly empty list allows nothing. If "*" is not
// among them and the project has a security token, the header
// <token_header, default X-Sentry-Token>: <token> is added: the token is
// sent only to origins the project named.
//
// When disabled, the reference's shape is kept: enabled false, no headers
// and no origins ({} and []), verify_ssl as configured.
func Config(p project.Project) Scraping {
	s := Scraping{
		Enabled:        p.ScrapingEnabled(),
		Headers:        map[string]string{},
		AllowedOrigins: []string{},
		VerifySSL:      p.VerifySSL(),
	}
	if !s.Enabled {
		return s
	}
	s.AllowedOrigins = origins(p.AllowedOrigins)
	if tok := p.Options.Token; tok != "" && !slices.Contains(s.AllowedOrigins, "*") {
		header := p.Options.TokenHeader
		if header == "" {
			header = DefaultTokenHeader
		}
		s.Headers[header] = tok
	}
	return s
}

// origins normalizes the allowed origins like the reference's get_origins.
// An origin is a scheme, host and port: credentials in one (which the
// configuration API refuses, but an older configuration may hold) match
// nothing and are never sent, so they are hidden here, before the origins
// reach state or Symbolicator.
func origins(configured []string) []string {
	if configured == nil {
		return []string{"*"}
	}
	out := []string{}
	for _, o := range configured {
		o = strings.TrimRight(strings.ToLower(project.RedactURLs(o)), "/")
		if o != "" && !slices.Contains(out, o) {
			out = append(out, o)
		}
	}
	slices.Sort(out)
	return out
}

// AddedTokenOrigins returns the origins next would send the project's
// security token to that stored would not: every origin next allows
// (normalized as Config does) that stored does not, or all of them when
// stored allows "*" (the token then goes nowhere), and none when next
// allows "*". Scraping being enabled or not does not count: it can be
// turned on later without the token being sent again.
//
// The configuration API keeps a hidden token only when this is empty, so
// that a writer who can read the configuration but not the token cannot
// add an origin of its own and have the token sent there.
func AddedTokenOrigins(stored, next project.Project) []string {
	nextOrigins := origins(next.AllowedOrigins)
	if slices.Contains(nextOrigins, "*") {
		return nil
	}
	storedOrigins := origins(stored.AllowedOrigins)
	if slices.Contains(storedOrigins, "*") {
		return nextOrigins
	}
	var added []string
	for _, o := range nextOrigins {
		if !slices.Contains(storedOrigins, o) {
			added = append(added, o)
		}
	}
	return added
}

// Hide returns a copy of s whose header values are HiddenValue: the copy
// is safe for workflow state and logs.
func (s Scraping) Hide() Scraping {
	out := s.clone()
	for k := range out.Headers {
		out.Headers[k] = HiddenValue
	}
	return out
}

// MissingHeaderError reports a hidden header with no stored value.
type MissingHeaderError struct{ Header string }

func (e *MissingHeaderError) Error() string {
	return fmt.Sprintf("scraping header %q is hidden and has no stored value", e.Header)
}

// Backfill returns a copy of hidden whose HiddenValue headers take the value
// of the same header in stored (the configuration recomputed from the
// store). A hidden header stored lacks is a *MissingHeaderError.
func Backfill(hidden, stored Scraping) (Scraping, error) {
	out := hidden.clone()
	for k, v := range out.Headers {
		if v != HiddenValue {
			continue
		}
		sv, ok := stored.Headers[k]
		if !ok || sv == HiddenValue {
			return Scraping{}, &MissingHeaderError{Header: k}
		}
		out.Headers[k] = sv
	}
	return out, nil
}

func (s Scraping) clone() Scraping {
	out := s
	out.Headers = make(map[string]string, len(s.Headers))
	for k, v := range s.Headers {
		out.Headers[k] = v
	}
	out.AllowedOrigins = append([]string{}, s.AllowedOrigins...)
	return out
}
