package stack

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/symflow/symflow/local/asl"
)

// An execution is kept under STATE/executions/ in one of two forms:
//
//   - NAME.json, the whole record (DescribeExecution plus the history), once
//     it has stopped or its run was suspended;
//   - NAME.journal while it runs: one JSON line with the record's header
//     (no history), then one line per history event, appended as the
//     execution makes progress. Appending keeps recording progress cheap
//     however long the history grows; a line cut short by a killed process
//     is ignored on reading.
//
// A journal is newer than the record beside it (a redrive journals the
// record's history again and continues it): reading prefers it. When the
// run ends the record is written and the journal removed.

func executionsDir(stateDir string) string { return filepath.Join(stateDir, "executions") }

// validExecName keeps names from leaving the executions folder.
func validExecName(name string) bool {
	return name != "" && !strings.ContainsAny(name, `/\`) && !strings.HasPrefix(name, ".")
}

// SaveExecution writes an execution's record under stateDir, atomically.
func SaveExecution(stateDir string, exec *asl.Execution) error {
	return saveExecution(stateDir, exec, false)
}

func saveExecution(stateDir string, exec *asl.Execution, durable bool) error {
	if !validExecName(exec.Name) {
		return fmt.Errorf("save execution %q: %w", exec.Name, ErrNoExecution)
	}
	dir := executionsDir(stateDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	data, err := json.MarshalIndent(exec, "", "  ")
	if err != nil {
		return fmt.Errorf("encode execution %s: %w", exec.Name, err)
	}
	return writeFileAtomic(filepath.Join(dir, exec.Name+".json"), data, durable)
}

// writeFileAtomic replaces path with data so that a reader, or a process
// killed midway, sees the old file or the new one. durable also syncs the
// file and the directory, so a power loss does.
func writeFileAtomic(path string, data []byte, durable bool) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if durable {
		if err := tmp.Sync(); err != nil {
			tmp.Close()
			return err
		}
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	if durable {
		return syncDir(filepath.Dir(path))
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// journal records one run's progress (asl.Options.Checkpoint): the first
// checkpoint writes the header and the history so far, later ones append
// the events since; the run's end (or suspension) writes the record and
// removes the journal.
type journal struct {
	stateDir string
	durable  bool

	mu      sync.Mutex
	f       *os.File
	written int
	done    bool  // the final record is written
	err     error // the first failure, reported when the run ends
}

func (j *journal) path(name string) string {
	return filepath.Join(executionsDir(j.stateDir), name+".journal")
}

// checkpoint records e (a snapshot whose history only grows).
func (j *journal) checkpoint(e *asl.Execution) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if e.Status != asl.StatusRunning || e.ResumeAt != nil {
		j.finish(e)
		return
	}
	if j.err != nil {
		return
	}
	if j.err = j.append(e); j.err != nil {
		j.close()
	}
}

func (j *journal) append(e *asl.Execution) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	if j.f == nil {
		if err := os.MkdirAll(executionsDir(j.stateDir), 0o755); err != nil {
			return err
		}
		f, err := os.OpenFile(j.path(e.Name), os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		j.f, j.written = f, 0
		header := *e
		header.History = nil
		if err := enc.Encode(&header); err != nil {
			return err
		}
		if j.durable {
			// The journal's name must survive with its first lines.
			defer syncDir(executionsDir(j.stateDir)) //nolint:errcheck // best effort; the file itself is synced below
		}
	}
	for _, ev := range e.History[j.written:] {
		if err := enc.Encode(ev); err != nil {
			return err
		}
	}
	if _, err := j.f.Write(buf.Bytes()); err != nil {
		return err
	}
	j.written = len(e.History)
	if j.durable {
		return j.f.Sync()
	}
	return nil
}

// finish writes the final record and drops the journal.
func (j *journal) finish(e *asl.Execution) {
	if err := saveExecution(j.stateDir, e, j.durable); err != nil {
		if j.err == nil {
			j.err = err
		}
		return
	}
	j.done = true
	j.close()
	os.Remove(j.path(e.Name))
}

func (j *journal) close() {
	if j.f != nil {
		j.f.Close()
		j.f = nil
	}
}

// result is the journal's first failure, and whether it wrote the final
// record.
func (j *journal) result() (done bool, err error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.close()
	return j.done, j.err
}

// readJournal rebuilds a running execution's record from its journal. A
// last line cut short (the process was killed while writing it) is left
// out; so is everything after a line that does not parse.
func readJournal(path string) (*asl.Execution, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), len(data)+1)
	var exec *asl.Execution
	for sc.Scan() {
		line := sc.Bytes()
		if exec == nil {
			exec = &asl.Execution{}
			if err := json.Unmarshal(line, exec); err != nil {
				return nil, fmt.Errorf("journal %s: header: %w", path, err)
			}
			exec.History = nil
			continue
		}
		var ev asl.HistoryEvent
		if json.Unmarshal(line, &ev) != nil || ev.ID != int64(len(exec.History)+1) {
			break
		}
		exec.History = append(exec.History, ev)
	}
	if exec == nil {
		return nil, fmt.Errorf("journal %s is empty", path)
	}
	return exec, nil
}

// LoadExecution reads a saved execution by name: from its journal while it
// runs, else from its record. When both exist the longer history wins: a
// redrive's journal continues the record's history, and a record written
// just before the process died (its journal not yet removed) holds all the
// journal does.
func LoadExecution(stateDir, name string) (*asl.Execution, error) {
	if !validExecName(name) {
		return nil, fmt.Errorf("execution name %q: %w", name, ErrNoExecution)
	}
	base := filepath.Join(executionsDir(stateDir), name)
	journaled, jerr := readJournal(base + ".journal")
	if jerr != nil && !errors.Is(jerr, fs.ErrNotExist) {
		return nil, fmt.Errorf("execution %q is corrupt: %w", name, jerr)
	}
	data, err := os.ReadFile(base + ".json")
	switch {
	case errors.Is(err, fs.ErrNotExist) && journaled != nil:
		return journaled, nil
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("execution %q: %w", name, ErrNoExecution)
	case err != nil:
		return nil, err
	}
	var exec asl.Execution
	if err := json.Unmarshal(data, &exec); err != nil {
		if journaled != nil {
			return journaled, nil
		}
		return nil, fmt.Errorf("execution %q is corrupt: %w", name, err)
	}
	if journaled != nil && len(journaled.History) > len(exec.History) {
		return journaled, nil
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
	seen := map[string]bool{}
	var out []*asl.Execution
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok {
			name, ok = strings.CutSuffix(e.Name(), ".journal")
		}
		if !ok || seen[name] || strings.HasPrefix(name, ".") {
			continue
		}
		seen[name] = true
		exec, err := LoadExecution(stateDir, name)
		if err != nil {
			continue // a corrupt record does not hide the others
		}
		out = append(out, exec)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].StartDate.After(out[j].StartDate) })
	return out, nil
}

// Interrupted returns the saved executions that are still RUNNING: their
// runs ended with the process that ran them (killed, or stopped with the
// run suspended). Resume continues each.
func Interrupted(stateDir string) ([]*asl.Execution, error) {
	all, err := ListExecutions(stateDir)
	if err != nil {
		return nil, err
	}
	var out []*asl.Execution
	for _, e := range all {
		if e.Status == asl.StatusRunning {
			out = append(out, e)
		}
	}
	return out, nil
}
