package stack

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/symflow/symflow/shared/project"
)

// Sample files, relative to the repository root: the project `make run`
// uses, its debug file and the crash that needs it.
const (
	SampleProject   = "events/project/sample-project.json"
	SampleDebugFile = "events/debug-files/crashy"
	SampleExecution = "events/execution/native-crash.json"
)

// ReadProject reads a project configuration file, rejecting unknown fields
// so a misspelt option is an error rather than silently ignored.
func ReadProject(path string) (project.Project, error) {
	var p project.Project
	f, err := os.Open(path)
	if err != nil {
		return p, fmt.Errorf("project config: %w", err)
	}
	defer f.Close()
	dec := json.NewDecoder(f)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return p, fmt.Errorf("project config %s: %w", path, err)
	}
	if p.ID == "" {
		return p, fmt.Errorf("project config %s: id is required", path)
	}
	return p, nil
}

// LoadSample stores the sample project and uploads its debug file.
func (st *Stack) LoadSample(ctx context.Context, root string) (project.Project, error) {
	p, err := ReadProject(filepath.Join(root, SampleProject))
	if err != nil {
		return p, err
	}
	if err := st.LoadProject(ctx, p); err != nil {
		return p, err
	}
	if _, err := st.UploadDebugFile(ctx, p.ID, filepath.Join(root, SampleDebugFile)); err != nil {
		return p, err
	}
	return p, nil
}
