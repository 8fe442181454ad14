package sources

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/symflow/symflow/shared/project"
)

// HiddenSecretKey is the key of the placeholder {"hidden-secret": true} that
// stands for a secret wherever a source leaves the store.
const HiddenSecretKey = "hidden-secret"

// HiddenSecret returns a fresh placeholder value.
func HiddenSecret() map[string]any { return map[string]any{HiddenSecretKey: true} }

func isHiddenSecret(v any) bool {
	m, ok := v.(map[string]any)
	if !ok || len(m) != 1 {
		return false
	}
	b, ok := m[HiddenSecretKey].(bool)
	return ok && b
}

// hiddenFields are the top-level fields Hide replaces in a Symbolicator
// source. The reference hides only password, secret_key and private_key on
// the configuration API; symflow also passes source lists through Step
// Functions state, which operators read, so it also hides the internal
// source's token and any authorization header (the one built from a custom
// source's username and password, or one a catalog override sets): no
// secret at all reaches the state.
var hiddenFields = []string{"password", "secret_key", "private_key", "token", "appconnectPrivateKey"}

// Hide returns a copy of l with every secret replaced by
// {"hidden-secret": true}: the fields password, secret_key, private_key and
// token, and every header named authorization (any case). URL credentials
// are secrets too: the userinfo of every URL in any string value, at any
// depth (an http source's url, a Sentry URL prefix with credentials, an s3
// endpoint), is replaced by project.HiddenUserinfo, so the state still
// shows which server each source names. l is unchanged.
func Hide(l List) List {
	out := l.Clone()
	for _, s := range out {
		for _, f := range hiddenFields {
			if _, ok := s[f]; ok {
				s[f] = HiddenSecret()
			}
		}
		if h, ok := s["headers"].(map[string]any); ok {
			for k := range h {
				if strings.EqualFold(k, "authorization") {
					h[k] = HiddenSecret()
				}
			}
		}
		hideURLs(map[string]any(s))
	}
	return out
}

// hideURLs replaces, in place, the URL credentials of every string value
// inside v (a map or a slice) with the placeholder.
func hideURLs(v any) {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			if s, ok := e.(string); ok {
				v[k] = project.RedactURLs(s)
			} else {
				hideURLs(e)
			}
		}
	case []any:
		for i, e := range v {
			if s, ok := e.(string); ok {
				v[i] = project.RedactURLs(s)
			} else {
				hideURLs(e)
			}
		}
	}
}

// MissingSecretError reports a hidden placeholder that has no stored value
// to fill it. It names the source and the field, never a value.
type MissingSecretError struct {
	SourceID string
	Field    string // e.g. "secret_key" or "headers.authorization"
	Reason   string
}

func (e *MissingSecretError) Error() string {
	return fmt.Sprintf("source %s: hidden secret %s: %s", quote(e.SourceID), e.Field, e.Reason)
}

// Backfill returns a copy of hidden with every {"hidden-secret": true}
// placeholder, at any depth, replaced by the value at the same place in the
// stored source with the same id, and every URL whose credentials are
// hidden given the stored URL's (project.BackfillURL). A placeholder with
// no stored value (no such source, no such field, or the stored value is
// itself a placeholder) is a *MissingSecretError.
//
// A source's secrets belong to the server its url names: when any is
// filled and the source's url names another scheme, host or port than the
// stored source's, that is a *MissingSecretError too, so that a state
// edited on its way (or a stale one) never sends stored secrets to another
// host. Neither argument is changed.
func Backfill(hidden, stored List) (List, error) {
	byID := make(map[string]Source, len(stored))
	for _, s := range stored {
		if id := s.ID(); id != "" {
			if _, dup := byID[id]; !dup {
				byID[id] = s
			}
		}
	}
	out := hidden.Clone()
	for _, s := range out {
		orig, ok := byID[s.ID()]
		var from any
		if ok {
			from = map[string]any(orig)
		}
		f := &filler{id: s.ID()}
		if err := f.fill(map[string]any(s), from, ""); err != nil {
			return nil, err
		}
		if f.filled && ok {
			if err := sameServer(s.ID(), "url", s["url"], orig["url"]); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// sameServer checks that a source whose secrets were filled from stored
// still names the stored source's server in field (its url).
func sameServer(id, field string, url, storedURL any) error {
	su, ok := storedURL.(string)
	if !ok {
		return nil // nothing to compare with: the stored source has no url
	}
	u, _ := url.(string)
	if u == su || project.SameOrigin(u, su) {
		return nil
	}
	return &MissingSecretError{SourceID: id, Field: field, Reason: "names another scheme, host or port than the stored source: its secrets are sent only to the stored server"}
}

// filler fills the placeholders of one source.
type filler struct {
	id     string
	filled bool // a secret was taken from the stored source
}

// fill replaces placeholders inside v (a map or slice) with the values at the
// same path in orig. path is the dotted path of v within its source.
func (f *filler) fill(v, orig any, path string) error {
	switch v := v.(type) {
	case map[string]any:
		om, _ := orig.(map[string]any)
		for _, k := range sortedKeys(v) {
			p := joinPath(path, k)
			var ov any
			var present bool
			if om != nil {
				ov, present = om[k]
			}
			if isHiddenSecret(v[k]) {
				if !present {
					return &MissingSecretError{SourceID: f.id, Field: p, Reason: "no stored value"}
				}
				if isHiddenSecret(ov) {
					return &MissingSecretError{SourceID: f.id, Field: p, Reason: "stored value is itself hidden"}
				}
				v[k] = deepCopy(ov)
				f.filled = true
				continue
			}
			filled, err := f.fillURL(v[k], ov, p)
			if err != nil {
				return err
			}
			if filled != nil {
				v[k] = *filled
				continue
			}
			if err := f.fill(v[k], ov, p); err != nil {
				return err
			}
		}
	case []any:
		oa, _ := orig.([]any)
		for i := range v {
			p := fmt.Sprintf("%s[%d]", path, i)
			var ov any
			if i < len(oa) {
				ov = oa[i]
			}
			if isHiddenSecret(v[i]) {
				if i >= len(oa) || isHiddenSecret(ov) {
					return &MissingSecretError{SourceID: f.id, Field: p, Reason: "no stored value"}
				}
				v[i] = deepCopy(ov)
				f.filled = true
				continue
			}
			filled, err := f.fillURL(v[i], ov, p)
			if err != nil {
				return err
			}
			if filled != nil {
				v[i] = *filled
				continue
			}
			if err := f.fill(v[i], ov, p); err != nil {
				return err
			}
		}
	}
	return nil
}

// fillURL backfills v when it is a string holding hidden URL credentials,
// from orig, the stored value at the same place. It returns nil when v
// needs nothing.
func (f *filler) fillURL(v, orig any, path string) (*string, error) {
	s, ok := v.(string)
	if !ok || !project.HasHiddenURL(s) {
		return nil, nil
	}
	so, _ := orig.(string)
	out, err := project.BackfillURL(s, so)
	if err != nil {
		var he *project.HiddenURLError
		reason := err.Error()
		if errors.As(err, &he) {
			reason = he.Reason
		}
		return nil, &MissingSecretError{SourceID: f.id, Field: path, Reason: "hidden URL credentials: " + reason}
	}
	f.filled = true
	return &out, nil
}

func joinPath(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}

// HideCustom returns the symbol_sources option with every secret field
// (password, secret_key, private_key) shown as {"hidden-secret": true}
// and the credentials of every URL in it (an http source's
// "https://user:password@host/") replaced by project.HiddenUserinfo:
// what the configuration API returns on read. A URL keeps everything but
// its userinfo, so the reader sees which server a source names and can
// write the value back as read (see BackfillCustom). Legacy appStoreConnect
// entries are left out, as Sentry's configuration API lists sources only
// through parse_sources, which drops them: a configuration read and written
// back unchanged then saves without them instead of being refused.
// A value that does not parse as a JSON array is an error, and nothing of
// it is returned (it may hold a secret).
func HideCustom(raw string) (string, error) {
	if strings.TrimSpace(raw) == "" {
		return "", nil
	}
	var v any
	if err := decodeJSON([]byte(raw), &v); err != nil {
		return "", &ValidationError{Field: "symbol_sources", Message: err.Error()}
	}
	arr, ok := v.([]any)
	if !ok {
		return "", &ValidationError{Field: "symbol_sources", Message: "must be a JSON array, got " + jsonKind(v)}
	}
	kept := make([]any, 0, len(arr))
	for _, e := range arr {
		if isLegacy(e) {
			continue
		}
		kept = append(kept, e)
		m, ok := e.(map[string]any)
		if !ok {
			continue
		}
		t, _ := m["type"].(string)
		for _, f := range secretFields[t] {
			if _, ok := m[f]; ok {
				m[f] = HiddenSecret()
			}
		}
		hideURLs(m)
	}
	b, err := json.Marshal(kept)
	if err != nil {
		return "", fmt.Errorf("encode hidden symbol_sources: %w", err)
	}
	return string(b), nil
}

// BackfillCustom prepares a symbol_sources value received by the
// configuration API for saving: every secret field holding
// {"hidden-secret": true} takes the value the same field has in the stored
// source with the same id (storedRaw is the option as saved), and every
// URL with hidden credentials takes the stored URL's as
// project.BackfillURL allows (the same URL, or one naming the same
// scheme, host and port); then the result is validated as ParseCustom
// does. It returns the JSON to save.
//
// A stored password is kept only while the source's url names the stored
// url's server: a writer who can read the configuration but not its
// secrets must not be able to point the source at a host of its own and
// have the password sent there. Changing the host with the password
// hidden is refused (a *ValidationError naming the field) rather than
// saved without it, so the writer knows to send it again.
//
// A legacy appStoreConnect entry is refused with a *ValidationError naming
// its type field, as Sentry refuses it when sources are written (its write
// schema has no such kind), although a stored one is dropped silently on
// read. A placeholder with no stored value is a *ValidationError naming the
// field; so is any other validation failure. A broken stored value is
// consulted only if a placeholder needs it.
func BackfillCustom(newRaw, storedRaw string) (string, error) {
	if strings.TrimSpace(newRaw) == "" {
		return "", nil
	}
	var v any
	if err := decodeJSON([]byte(newRaw), &v); err != nil {
		return "", &ValidationError{Field: "symbol_sources", Message: err.Error()}
	}
	arr, ok := v.([]any)
	if !ok {
		return "", &ValidationError{Field: "symbol_sources", Message: "must be a JSON array, got " + jsonKind(v)}
	}
	var stored map[string]map[string]any // parsed on first need
	for i, e := range arr {
		m, ok := e.(map[string]any)
		if !ok {
			continue // validation below names it
		}
		path := fmt.Sprintf("symbol_sources[%d]", i)
		id, _ := m["id"].(string)
		origFor := func(field string) (map[string]any, error) {
			if stored == nil {
				stored = storedByID(storedRaw)
			}
			orig, ok := stored[id]
			if !ok {
				return nil, &ValidationError{Field: field, Message: fmt.Sprintf(
					"hidden secret has no stored value: no saved source with id %s", quote(id))}
			}
			return orig, nil
		}
		if project.HasHiddenURL(stringsOf(m)) {
			orig, err := origFor(path)
			if err != nil {
				return "", err
			}
			if err := backfillURLs(path, m, orig); err != nil {
				return "", err
			}
		}
		t, _ := m["type"].(string)
		for _, f := range secretFields[t] {
			if !isHiddenSecret(m[f]) {
				continue
			}
			field := path + "." + f
			orig, err := origFor(field)
			if err != nil {
				return "", err
			}
			ov, ok := orig[f].(string)
			if !ok || orig["type"] != t {
				return "", &ValidationError{Field: field, Message: fmt.Sprintf(
					"hidden secret has no stored value: saved source %s has no %s", quote(id), f)}
			}
			// The password of an http source is sent to its url: kept
			// only while the url names the same server, so that a writer
			// who cannot read it cannot send it to a server of its own.
			if u, ok := m["url"].(string); ok {
				if su, _ := orig["url"].(string); u != su && !project.SameOrigin(u, su) {
					return "", &ValidationError{Field: field, Message: "hidden secret is kept only while url names the saved source's scheme, host and port: send the " + f + " again for the new url"}
				}
			}
			m[f] = ov
		}
	}
	if _, err := validateCustom(arr, legacyRefuse); err != nil {
		return "", err
	}
	b, err := json.Marshal(arr)
	if err != nil {
		return "", fmt.Errorf("encode symbol_sources: %w", err)
	}
	return string(b), nil
}

// stringsOf is every string value inside v, joined by newlines, to test
// at once whether any holds a hidden URL.
func stringsOf(v any) string {
	var b strings.Builder
	var walk func(any)
	walk = func(v any) {
		switch v := v.(type) {
		case string:
			b.WriteString(v)
			b.WriteByte('\n')
		case map[string]any:
			for _, e := range v {
				walk(e)
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	walk(v)
	return b.String()
}

// backfillURLs fills, in place, every string inside v holding hidden URL
// credentials from the string at the same place in orig
// (project.BackfillURL). path is v's place in symbol_sources, for errors.
func backfillURLs(path string, v, orig any) *ValidationError {
	fillOne := func(p string, s string, o any) (string, *ValidationError) {
		if !project.HasHiddenURL(s) {
			return s, nil
		}
		so, _ := o.(string)
		out, err := project.BackfillURL(s, so)
		if err != nil {
			var he *project.HiddenURLError
			msg := err.Error()
			if errors.As(err, &he) {
				msg = he.Reason
			}
			return "", &ValidationError{Field: p, Message: "hidden URL credentials: " + msg}
		}
		return out, nil
	}
	switch v := v.(type) {
	case map[string]any:
		om, _ := orig.(map[string]any)
		for _, k := range sortedKeys(v) {
			p := path + member(k)
			var ov any
			if om != nil {
				ov = om[k]
			}
			if s, ok := v[k].(string); ok {
				out, err := fillOne(p, s, ov)
				if err != nil {
					return err
				}
				v[k] = out
			} else if err := backfillURLs(p, v[k], ov); err != nil {
				return err
			}
		}
	case []any:
		oa, _ := orig.([]any)
		for i := range v {
			p := fmt.Sprintf("%s[%d]", path, i)
			var ov any
			if i < len(oa) {
				ov = oa[i]
			}
			if s, ok := v[i].(string); ok {
				out, err := fillOne(p, s, ov)
				if err != nil {
					return err
				}
				v[i] = out
			} else if err := backfillURLs(p, v[i], ov); err != nil {
				return err
			}
		}
	}
	return nil
}

// storedByID indexes the saved symbol_sources by id, leniently: entries
// that are not objects or lack an id are ignored, and so is a value that
// does not parse at all.
func storedByID(raw string) map[string]map[string]any {
	out := map[string]map[string]any{}
	var arr []any
	if strings.TrimSpace(raw) == "" || decodeJSON([]byte(raw), &arr) != nil {
		return out
	}
	for _, e := range arr {
		m, ok := e.(map[string]any)
		if !ok {
			continue
		}
		if id, ok := m["id"].(string); ok {
			if _, dup := out[id]; !dup {
				out[id] = m
			}
		}
	}
	return out
}

// HasHidden reports whether any source of l still holds a hidden-secret
// placeholder: a list about to be sent to Symbolicator must not.
func (l List) HasHidden() bool {
	for _, s := range l {
		if hasHidden(map[string]any(s)) {
			return true
		}
	}
	return false
}

// hasHidden reports whether v holds a placeholder anywhere.
func hasHidden(v any) bool {
	if isHiddenSecret(v) {
		return true
	}
	switch v := v.(type) {
	case map[string]any:
		for _, e := range v {
			if hasHidden(e) {
				return true
			}
		}
	case []any:
		return slices.ContainsFunc(v, hasHidden)
	}
	return false
}
