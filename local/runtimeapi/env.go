package runtimeapi

// Local is what local mode runs in place of AWS, for LocalEnv. Empty
// fields set nothing.
type Local struct {
	// DynamoDB and S3 are the endpoint URLs of the local servers.
	DynamoDB string
	S3       string
	// SymbolicatorURL is the Symbolicator the functions call.
	SymbolicatorURL string
	// Table and bucket names as local mode created them.
	ProjectsTable    string
	TasksTable       string
	ResultsBucket    string
	DebugFilesBucket string
}

// LocalEnv is the environment that points the functions' wiring
// (functions/internal/lambdaenv) at local mode: the SDK's per-service
// endpoint variables, path-style S3 addressing, component requests allowed
// to loopback apps (as in-process local mode allows them), and the local
// names. Pass it as the env of TemplateConfig or TemplateInvoker.
func LocalEnv(l Local) map[string]string {
	env := map[string]string{
		"S3_USE_PATH_STYLE":         "true",
		"COMPONENTS_ALLOW_LOOPBACK": "true",
	}
	set := func(k, v string) {
		if v != "" {
			env[k] = v
		}
	}
	set("AWS_ENDPOINT_URL_DYNAMODB", l.DynamoDB)
	set("AWS_ENDPOINT_URL_S3", l.S3)
	set("SYMBOLICATOR_URL", l.SymbolicatorURL)
	set("PROJECTS_TABLE", l.ProjectsTable)
	set("TASKS_TABLE", l.TasksTable)
	set("RESULTS_BUCKET", l.ResultsBucket)
	set("DEBUG_FILES_BUCKET", l.DebugFilesBucket)
	return env
}
