package runtimeapi_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/symflow/symflow/local/asl"
	"github.com/symflow/symflow/local/runtimeapi"
	"github.com/symflow/symflow/local/samtemplate"
)

// Process mode: build the functions the state machine invokes for the
// host, run them under the Runtime API emulator pointed at local
// endpoints, and hand the invoker to the state machine.
func ExampleTemplateInvoker() {
	ctx := context.Background()
	root := "." // the repository root
	tmpl, err := samtemplate.Load(filepath.Join(root, "template.yaml"))
	if err != nil {
		log.Fatal(err)
	}
	fns, err := runtimeapi.StateMachineFunctions(tmpl)
	if err != nil {
		log.Fatal(err)
	}
	var dirs []string
	for _, fn := range fns {
		dirs = append(dirs, fn.Dir)
	}
	bins, err := runtimeapi.Build(ctx, root, filepath.Join(root, ".symflow", "bin"), dirs)
	if err != nil {
		log.Fatal(err)
	}
	env := runtimeapi.LocalEnv(runtimeapi.Local{
		DynamoDB:        "http://127.0.0.1:8000",
		S3:              "http://127.0.0.1:9000",
		SymbolicatorURL: "http://127.0.0.1:3021/",
		ProjectsTable:   "symflow-projects",
		TasksTable:      "symflow-tasks",
		ResultsBucket:   "symflow-results",
	})
	inv, err := runtimeapi.TemplateInvoker(fns, bins, env, runtimeapi.Config{Output: os.Stderr})
	if err != nil {
		log.Fatal(err)
	}
	defer inv.Stop()

	var _ asl.Invoker = inv // asl.Options{Invoker: inv}
	for _, name := range inv.Names() {
		f, _ := inv.Function(name)
		fmt.Println(name, f.Stats().InitDurations)
	}
}
