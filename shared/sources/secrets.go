package sources

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
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
// token, and every header named authorization (any case). l is unchanged.
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
	}
	return out
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
// stored source with the same id. A placeholder with no stored value (no
// such source, no such field, or the stored value is itself a placeholder)
// is a *MissingSecretError. Neither argument is changed.
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
		if err := fill(map[string]any(s), from, s.ID(), ""); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// fill replaces placeholders inside v (a map or slice) with the values at the
// same path in orig. path is the dotted path of v within its source.
func fill(v, orig any, id, path string) error {
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
					return &MissingSecretError{SourceID: id, Field: p, Reason: "no stored value"}
				}
				if isHiddenSecret(ov) {
					return &MissingSecretError{SourceID: id, Field: p, Reason: "stored value is itself hidden"}
				}
				v[k] = deepCopy(ov)
				continue
			}
			if err := fill(v[k], ov, id, p); err != nil {
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
					return &MissingSecretError{SourceID: id, Field: p, Reason: "no stored value"}
				}
				v[i] = deepCopy(ov)
				continue
			}
			if err := fill(v[i], ov, id, p); err != nil {
				return err
			}
		}
	}
	return nil
}

func joinPath(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}

// HideCustom returns the symbol_sources option with every secret field
// (password, secret_key, private_key) shown as {"hidden-secret": true}:
// what the configuration API returns on read. Legacy appStoreConnect
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
// source with the same id (storedRaw is the option as saved), then the
// result is validated as ParseCustom does. It returns the JSON to save.
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
		t, _ := m["type"].(string)
		for _, f := range secretFields[t] {
			if !isHiddenSecret(m[f]) {
				continue
			}
			field := fmt.Sprintf("symbol_sources[%d].%s", i, f)
			id, _ := m["id"].(string)
			if stored == nil {
				stored = storedByID(storedRaw)
			}
			orig, ok := stored[id]
			if !ok {
				return "", &ValidationError{Field: field, Message: fmt.Sprintf(
					"hidden secret has no stored value: no saved source with id %s", quote(id))}
			}
			ov, ok := orig[f].(string)
			if !ok || orig["type"] != t {
				return "", &ValidationError{Field: field, Message: fmt.Sprintf(
					"hidden secret has no stored value: saved source %s has no %s", quote(id), f)}
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
