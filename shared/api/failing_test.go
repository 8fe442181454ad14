package api_test

import (
	"context"
	"errors"

	"github.com/symflow/symflow/shared/project"
)

// failingProjects stands for a store that is down: the error carries the
// kind of detail (host, service) that must not reach a caller.
type failingProjects struct{}

var errDown = errors.New("operation error dynamodb: Query: dial tcp 10.1.2.3:443: connection refused")

func (failingProjects) GetProject(context.Context, string) (project.Project, error) {
	return project.Project{}, errDown
}
func (failingProjects) PutProject(context.Context, project.Project) error { return errDown }
func (failingProjects) PutInstallation(context.Context, string, project.Installation) error {
	return errDown
}
