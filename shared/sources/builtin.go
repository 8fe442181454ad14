package sources

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
)

// builtinJSON is the default builtin catalog: the public symbol servers the
// reference offers, keyed by the name projects list in the option
// builtin_symbol_sources. Key order is catalog order.
//
// The "ios" alias names "ios-source" and "tvos-source", which the embedded
// catalog does not define: as in the reference's open-source build, Apple's
// system symbols live in a private store, so a deployment that has one
// supplies those entries through project.Settings.BuiltinCatalog; without
// them the alias expands to nothing (unknown keys are skipped).
//
//go:embed builtin.json
var builtinJSON []byte

// TypeAlias is the catalog-only source type that stands for other entries.
const TypeAlias = "alias"

// maxAliasDepth bounds alias expansion. Cycles are already cut by tracking
// the keys being expanded; the bound also keeps a long, acyclic chain in a
// hand-written catalog from recursing without limit.
const maxAliasDepth = 32

// CatalogEntry is one entry of the builtin catalog.
type CatalogEntry struct {
	Key    string `json:"key"`
	Source Source `json:"source"`
}

// Catalog is the ordered builtin catalog. The zero value is an empty catalog.
// A Catalog is immutable: lookups hand out copies.
type Catalog struct {
	entries []CatalogEntry
	index   map[string]int
}

var (
	defaultOnce    sync.Once
	defaultCatalog *Catalog
)

// DefaultCatalog returns the embedded catalog. It panics only if the
// embedded file is broken, which the package's tests rule out.
func DefaultCatalog() *Catalog {
	defaultOnce.Do(func() {
		c, err := ParseCatalog(builtinJSON)
		if err != nil {
			panic(fmt.Sprintf("sources: embedded builtin.json: %v", err))
		}
		defaultCatalog = c
	})
	return defaultCatalog
}

// CatalogError says what is wrong with a builtin catalog.
type CatalogError struct {
	Key     string // the entry's key, "" for the catalog as a whole
	Message string
}

func (e *CatalogError) Error() string {
	if e.Key == "" {
		return "builtin catalog: " + e.Message
	}
	return fmt.Sprintf("builtin catalog: entry %q: %s", e.Key, e.Message)
}

// ParseCatalog parses a catalog given either as a JSON object of key →
// source, whose key order is the catalog order (the form of builtin.json and
// project.Settings.BuiltinCatalog), or as a JSON array of {"key","source"}.
// Every entry needs a non-empty string id and type; an alias needs
// "sources", an array of keys. Keys must be unique.
func ParseCatalog(raw []byte) (*Catalog, error) {
	raw = bytes.TrimSpace(raw)
	var entries []CatalogEntry
	switch {
	case len(raw) > 0 && raw[0] == '[':
		if err := decodeJSON(raw, &entries); err != nil {
			return nil, &CatalogError{Message: err.Error()}
		}
	case len(raw) > 0 && raw[0] == '{':
		var err error
		if entries, err = orderedObject(raw); err != nil {
			return nil, &CatalogError{Message: err.Error()}
		}
	default:
		return nil, &CatalogError{Message: "must be a JSON object or array"}
	}
	c := &Catalog{entries: entries, index: make(map[string]int, len(entries))}
	for i, e := range entries {
		if e.Key == "" {
			return nil, &CatalogError{Message: fmt.Sprintf("entry %d has no key", i)}
		}
		if _, dup := c.index[e.Key]; dup {
			return nil, &CatalogError{Key: e.Key, Message: "duplicate key"}
		}
		c.index[e.Key] = i
		if err := checkCatalogSource(e.Source); err != nil {
			return nil, &CatalogError{Key: e.Key, Message: err.Error()}
		}
	}
	return c, nil
}

func checkCatalogSource(s Source) error {
	if s == nil {
		return errors.New("source must be a JSON object")
	}
	if id, ok := s["id"].(string); !ok || id == "" {
		return errors.New("id must be a non-empty string")
	}
	if t, ok := s["type"].(string); !ok || t == "" {
		return errors.New("type must be a non-empty string")
	}
	if s.Type() != TypeAlias {
		return nil
	}
	keys, ok := s["sources"].([]any)
	if !ok {
		return errors.New("alias needs sources, an array of catalog keys")
	}
	for i, k := range keys {
		if _, ok := k.(string); !ok {
			return fmt.Errorf("sources[%d] must be a string, got %s", i, jsonKind(k))
		}
	}
	return nil
}

// orderedObject decodes a JSON object of key → source keeping key order,
// which encoding/json's maps lose.
func orderedObject(raw []byte) ([]CatalogEntry, error) {
	if !json.Valid(raw) {
		var v any
		if err := decodeJSON(raw, &v); err != nil {
			return nil, err
		}
		return nil, errors.New("invalid JSON")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if _, err := dec.Token(); err != nil { // '{'
		return nil, jsonError(err)
	}
	var entries []CatalogEntry
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, jsonError(err)
		}
		key, _ := tok.(string)
		var v any
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("entry %q: %w", key, jsonError(err))
		}
		m, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("entry %q: must be a JSON object, got %s", key, jsonKind(v))
		}
		entries = append(entries, CatalogEntry{Key: key, Source: m})
	}
	if _, err := dec.Token(); err != nil { // '}'
		return nil, jsonError(err)
	}
	if _, err := dec.Token(); err == nil {
		return nil, errors.New("unexpected data after the JSON value")
	}
	return entries, nil
}

// Keys returns the catalog's keys in catalog order.
func (c *Catalog) Keys() []string {
	if c == nil {
		return nil
	}
	keys := make([]string, len(c.entries))
	for i, e := range c.entries {
		keys[i] = e.Key
	}
	return keys
}

// Lookup returns a copy of the entry for key.
func (c *Catalog) Lookup(key string) (Source, bool) {
	if c == nil {
		return nil, false
	}
	i, ok := c.index[key]
	if !ok {
		return nil, false
	}
	return c.entries[i].Source.Clone(), true
}

// MarshalJSON writes the catalog in its array form, which keeps order.
func (c *Catalog) MarshalJSON() ([]byte, error) {
	if c == nil || len(c.entries) == 0 {
		return []byte("[]"), nil
	}
	return json.Marshal(c.entries)
}

// expansion is one source produced from the catalog, with the aliases that
// produced it, outermost first.
type expansion struct {
	source  Source
	aliases []string // alias ids
}

// expand returns the sources an enabled key stands for: the entry itself,
// or for an alias the entries it names, recursively, in order. Unknown keys
// are skipped, and so is a key already being expanded (an alias cycle).
func (c *Catalog) expand(key string, via []string, visiting map[string]bool) []expansion {
	i, ok := c.index[key]
	if !ok || visiting[key] || len(via) > maxAliasDepth {
		return nil
	}
	src := c.entries[i].Source
	if src.Type() != TypeAlias {
		return []expansion{{source: src.Clone(), aliases: via}}
	}
	visiting[key] = true
	defer delete(visiting, key)
	via = append(via[:len(via):len(via)], src.ID())
	var out []expansion
	for _, k := range src["sources"].([]any) {
		out = append(out, c.expand(k.(string), via, visiting)...)
	}
	return out
}

// reverseAliases maps the id of every entry an alias names directly to the
// alias's id, as the reference does; names maps each alias id to its name.
func (c *Catalog) reverseAliases() (reverse, names map[string]string) {
	reverse, names = map[string]string{}, map[string]string{}
	if c == nil {
		return reverse, names
	}
	for _, e := range c.entries {
		if e.Source.Type() != TypeAlias {
			continue
		}
		names[e.Source.ID()] = nameOr(e.Source)
		for _, k := range e.Source["sources"].([]any) {
			if i, ok := c.index[k.(string)]; ok {
				reverse[c.entries[i].Source.ID()] = e.Source.ID()
			}
		}
	}
	return reverse, names
}

func nameOr(s Source) string {
	if n, ok := s["name"].(string); ok {
		return n
	}
	return "unknown"
}
