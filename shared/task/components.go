package task

import (
	"context"

	"github.com/symflow/symflow/shared/blob"
	"github.com/symflow/symflow/shared/component"
	"github.com/symflow/symflow/shared/project"
)

// ComponentPreparer prepares a project's sentry-app components. Each
// component's outcome is reported on its own; the call itself never fails.
type ComponentPreparer interface {
	PrepareAll(ctx context.Context, installs []project.Installation, projectSlug string, concurrency int) []component.Result
}

// componentConcurrency bounds the requests to apps one execution makes at once.
const componentConcurrency = 4

// Components is PrepareComponents' output: the list an operator reads in the
// console (status per component) and where the prepared schemas are.
type Components struct {
	Prepared int               `json:"prepared"`
	Failed   int               `json:"failed"`
	Items    []ComponentStatus `json:"items"`
	Schemas  *blob.Ref         `json:"schemas,omitempty"`
}

// ComponentStatus is one component's line in the output.
type ComponentStatus struct {
	AppSlug   string `json:"app_slug"`
	Component string `json:"component"`
	Type      string `json:"type"`
	Error     string `json:"error,omitempty"`
}

// PrepareComponents prepares every component of the project's sentry-app
// installations. One component's failure is reported in the output and
// fails neither the others nor the execution.
func (s *Steps) PrepareComponents(ctx context.Context, in Input) (*Components, error) {
	p, err := s.loadProject(ctx, in.State.ProjectID)
	if err != nil {
		return nil, err
	}
	installs, err := s.Projects.ListInstallations(ctx, p.ID)
	if err != nil {
		return nil, &InternalError{Op: "list installations", Err: err}
	}
	out := &Components{Items: []ComponentStatus{}}
	if len(installs) == 0 || s.Components == nil {
		return out, nil
	}
	results := s.Components.PrepareAll(ctx, installs, p.Slug, componentConcurrency)
	for i := range results {
		// Stored and shown: whatever the preparer, no URL credentials.
		results[i].Error = project.RedactURLs(results[i].Error)
		results[i].Schema = project.RedactJSON(results[i].Schema)
	}
	for _, r := range results {
		out.Items = append(out.Items, ComponentStatus{AppSlug: r.AppSlug, Component: r.ComponentUUID, Type: r.Type, Error: r.Error})
		if r.Error != "" {
			out.Failed++
		} else {
			out.Prepared++
		}
	}
	ref := s.componentsRef(&in.State)
	if err := s.Blobs.PutJSON(ctx, ref, results); err != nil {
		return nil, &InternalError{Op: "store prepared components", Err: err}
	}
	out.Schemas = &ref
	s.logger(ctx, &in).InfoContext(ctx, "components prepared", "prepared", out.Prepared, "failed", out.Failed)
	return out, nil
}
