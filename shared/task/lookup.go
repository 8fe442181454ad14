package task

import (
	"context"
	"encoding/json"

	"github.com/symflow/symflow/shared/project"
	"github.com/symflow/symflow/shared/scraping"
	"github.com/symflow/symflow/shared/sources"
)

// LookupSources is the first state: it reads the project and returns its
// symbol sources (secrets hidden), the scraping configuration (token hidden)
// and the context ProcessResponse needs.
func (s *Steps) LookupSources(ctx context.Context, in Input) (*Lookup, error) {
	if err := in.State.Validate(); err != nil {
		return nil, err
	}
	log := s.logger(ctx, &in)
	p, err := s.loadProject(ctx, in.State.ProjectID)
	if err != nil {
		return nil, err
	}
	list, rc := s.sourcesFor(p, in.State.EventID)
	hidden, err := json.Marshal(sources.Hide(list))
	if err != nil {
		return nil, &InternalError{Op: "encode sources", Err: err}
	}
	scr, err := json.Marshal(scraping.Config(p).Hide())
	if err != nil {
		return nil, &InternalError{Op: "encode scraping", Err: err}
	}
	ids := sourceIDs(hidden)
	log.InfoContext(ctx, "sources looked up", "source_ids", ids)
	return &Lookup{SourceIDs: ids, Sources: hidden, Scraping: scr, Context: rc}, nil
}

// sourcesFor computes a project's full source list, secrets included.
func (s *Steps) sourcesFor(p project.Project, eventID string) (sources.List, sources.ResponseContext) {
	return sources.ForProject(p, s.Settings, eventID, s.now(), s.Log)
}

// sourceIDs lists the ids of a JSON array of sources, for the console.
func sourceIDs(list json.RawMessage) []string {
	var srcs []struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(list, &srcs)
	ids := make([]string, 0, len(srcs))
	for _, s := range srcs {
		ids = append(ids, s.ID)
	}
	return ids
}
