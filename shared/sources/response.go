package sources

import (
	"encoding/json"
	"strings"
)

// IsInternalID reports whether a source id is reserved for internal sources
// (builtin ones and the project's own): ids starting with "sentry".
func IsInternalID(id string) bool { return strings.HasPrefix(id, "sentry") }

// ProcessResponse post-processes a Symbolicator response (SEMANTICS §1) and
// returns the result; resp itself is not changed. For every
// modules[].candidates[] entry, source is mapped back through
// rc.ReverseAliases and source_name is set from rc.SourceNames ("unknown"
// when absent). Then candidates of internal sources (ids starting with
// "sentry") are redacted: location is dropped except for sentry:project,
// and always for notfound candidates; only the first notfound candidate of
// a source is kept, and none when that source also has a candidate with
// another status. candidates is rewritten only where the module had it.
//
// Beyond the reference, the credentials of every URL in any string of the
// response are hidden (project.RedactURLs).
//
// Shapes the reference would crash on are left alone: modules or
// candidates that are not arrays, modules or candidates that are not
// objects, candidates without a string source.
func ProcessResponse(resp map[string]any, rc ResponseContext) map[string]any {
	if resp == nil {
		return nil
	}
	out := deepCopy(resp).(map[string]any)
	modules, _ := out["modules"].([]any)
	for _, m := range modules {
		module, ok := m.(map[string]any)
		if !ok {
			continue
		}
		candidates, ok := module["candidates"].([]any)
		if !ok {
			continue
		}
		for _, c := range candidates {
			cand, ok := c.(map[string]any)
			if !ok {
				continue
			}
			id, ok := cand["source"].(string)
			if !ok {
				continue
			}
			if orig, ok := rc.ReverseAliases[id]; ok {
				id = orig
				cand["source"] = id
			}
			name, ok := rc.SourceNames[id]
			if !ok {
				name = "unknown"
			}
			cand["source_name"] = name
		}
		module["candidates"] = redactCandidates(candidates)
	}
	// A candidate's location (or a download error's details, or a
	// failure message) may name a source URL with its credentials:
	// Symbolicator does not promise to hide them, and the result is
	// stored and shown.
	hideURLs(out)
	return out
}

// redactCandidates applies the internal-source redaction to one module's
// candidates (the reference's redact_internal_sources_from_module).
func redactCandidates(candidates []any) []any {
	notfound := map[string]bool{}
	other := map[string]bool{}
	kept := make([]any, 0, len(candidates))
	for _, c := range candidates {
		cand, ok := c.(map[string]any)
		if !ok {
			kept = append(kept, c)
			continue
		}
		id, ok := cand["source"].(string)
		if !ok || !IsInternalID(id) {
			kept = append(kept, c)
			continue
		}
		if id != InternalSourceID {
			delete(cand, "location")
		}
		if status, ok := downloadStatus(cand); ok {
			if status == "notfound" {
				delete(cand, "location") // a notfound location is bogus
				if notfound[id] {
					continue
				}
				notfound[id] = true
			} else {
				other[id] = true
			}
		}
		kept = append(kept, cand)
	}
	out := make([]any, 0, len(kept))
	for _, c := range kept {
		if cand, ok := c.(map[string]any); ok {
			id, _ := cand["source"].(string)
			if st, _ := downloadStatus(cand); st == "notfound" && other[id] {
				continue
			}
		}
		out = append(out, c)
	}
	return out
}

// downloadStatus returns candidate.download.status; ok is false when there
// is no such field. A status that is not a string counts as "another
// status", as it does in the reference.
func downloadStatus(cand map[string]any) (status any, ok bool) {
	d, isMap := cand["download"].(map[string]any)
	if !isMap {
		return nil, false
	}
	status, ok = d["status"]
	return status, ok
}

// ProcessResponseJSON is ProcessResponse on raw JSON. A body that is not a
// JSON object is returned unchanged, with the decoding error.
func ProcessResponseJSON(raw json.RawMessage, rc ResponseContext) (json.RawMessage, error) {
	var resp map[string]any
	if err := decodeJSON(raw, &resp); err != nil {
		return raw, err
	}
	if resp == nil {
		return raw, nil
	}
	return json.Marshal(ProcessResponse(resp, rc))
}
