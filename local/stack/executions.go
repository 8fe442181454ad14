package stack

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/symflow/symflow/local/asl"
)

func executionsDir(stateDir string) string { return filepath.Join(stateDir, "executions") }

// SaveExecution writes an execution's record under stateDir.
func SaveExecution(stateDir string, exec *asl.Execution) error {
	dir := executionsDir(stateDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	data, err := json.MarshalIndent(exec, "", "  ")
	if err != nil {
		return fmt.Errorf("encode execution %s: %w", exec.Name, err)
	}
	return os.WriteFile(filepath.Join(dir, exec.Name+".json"), data, 0o644)
}

// LoadExecution reads a saved execution by name.
func LoadExecution(stateDir, name string) (*asl.Execution, error) {
	if name == "" || strings.ContainsAny(name, `/\`) || strings.HasPrefix(name, ".") {
		return nil, fmt.Errorf("execution name %q: %w", name, ErrNoExecution)
	}
	data, err := os.ReadFile(filepath.Join(executionsDir(stateDir), name+".json"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("execution %q: %w", name, ErrNoExecution)
	}
	if err != nil {
		return nil, err
	}
	var exec asl.Execution
	if err := json.Unmarshal(data, &exec); err != nil {
		return nil, fmt.Errorf("execution %q is corrupt: %w", name, err)
	}
	return &exec, nil
}

// ListExecutions returns the saved executions, newest first.
func ListExecutions(stateDir string) ([]*asl.Execution, error) {
	entries, err := os.ReadDir(executionsDir(stateDir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []*asl.Execution
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok {
			continue
		}
		exec, err := LoadExecution(stateDir, name)
		if err != nil {
			continue // a corrupt record does not hide the others
		}
		out = append(out, exec)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].StartDate.After(out[j].StartDate) })
	return out, nil
}
