package runtimeapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	"github.com/symflow/symflow/local/asl"
	"github.com/symflow/symflow/local/invoke"
)

// Invoker runs Task states' functions as processes: it implements
// asl.Invoker for local mode's process mode.
type Invoker struct {
	fns map[string]*Function
}

var _ asl.Invoker = (*Invoker)(nil)

// NewInvoker maps each function by its name. Stop stops them all.
func NewInvoker(fns ...*Function) (*Invoker, error) {
	inv := &Invoker{fns: make(map[string]*Function, len(fns))}
	for _, f := range fns {
		if _, dup := inv.fns[f.Name()]; dup {
			return nil, fmt.Errorf("new invoker: function %s given twice", f.Name())
		}
		inv.fns[f.Name()] = f
	}
	return inv, nil
}

// Invoke runs the function a resource names (a function ARN, qualified or
// not, or a plain name). A function error becomes an *asl.TaskError named
// by its errorType, with the error document as the cause, as Step
// Functions reports a Lambda failure; an unknown function is
// Lambda.ResourceNotFoundException.
func (inv *Invoker) Invoke(ctx context.Context, resource string, input json.RawMessage) (json.RawMessage, error) {
	name := invoke.FunctionName(resource)
	f, ok := inv.fns[name]
	if !ok {
		return nil, &asl.TaskError{Name: "Lambda.ResourceNotFoundException", Cause: "Function not found: " + resource}
	}
	out, err := f.Invoke(ctx, input)
	if err != nil {
		var fe *FunctionError
		if errors.As(err, &fe) {
			return nil, &asl.TaskError{Name: fe.Type, Cause: string(fe.Payload)}
		}
		return nil, err
	}
	return out, nil
}

// Function returns the function with that name.
func (inv *Invoker) Function(name string) (*Function, bool) {
	f, ok := inv.fns[name]
	return f, ok
}

// Names lists the functions' names, sorted.
func (inv *Invoker) Names() []string {
	names := make([]string, 0, len(inv.fns))
	for n := range inv.fns {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Stop stops every function's processes.
func (inv *Invoker) Stop() {
	for _, f := range inv.fns {
		f.Stop()
	}
}
