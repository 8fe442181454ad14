package task

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/symflow/symflow/shared/project"
)

// Environment variables the step functions read; template.yaml sets them
// from its parameters. Listed here so the template test can check both agree.
const (
	EnvSymbolicatorURL   = "SYMBOLICATOR_URL"
	EnvPollTimeout       = "POLL_TIMEOUT_SECONDS"
	EnvPollInterval      = "POLL_INTERVAL_SECONDS"
	EnvResubmitBudget    = "RESUBMIT_BUDGET"
	EnvDeadline          = "DEADLINE_SECONDS"
	EnvResultsBucket     = "RESULTS_BUCKET"
	EnvDebugFilesBucket  = "DEBUG_FILES_BUCKET"
	EnvInternalURLPrefix = "INTERNAL_URL_PREFIX"
	EnvPublicURLPrefix   = "PUBLIC_URL_PREFIX"
	EnvSystemToken       = "SYSTEM_TOKEN"
	EnvIgnoredSources    = "IGNORED_SOURCE_IDS"
	EnvWorkerSampleRate  = "WORKER_SAMPLE_RATE"
	EnvRegion            = "AWS_REGION"
)

// ConfigFromEnv reads the workflow parameters; an unset variable keeps its
// default, a malformed one is an error naming it.
func ConfigFromEnv(getenv func(string) string) (Config, project.Settings, error) {
	cfg := Defaults
	cfg.SymbolicatorURL = getenv(EnvSymbolicatorURL)
	cfg.ResultsBucket = getenv(EnvResultsBucket)
	var err error
	seconds := func(name string, dst *time.Duration) {
		if v := getenv(name); v != "" && err == nil {
			n, perr := strconv.ParseFloat(v, 64)
			if perr != nil || n < 0 {
				err = fmt.Errorf("%s=%q: want a non-negative number of seconds", name, v)
				return
			}
			*dst = time.Duration(n * float64(time.Second))
		}
	}
	seconds(EnvPollTimeout, &cfg.PollTimeout)
	seconds(EnvPollInterval, &cfg.PollInterval)
	seconds(EnvDeadline, &cfg.Deadline)
	if v := getenv(EnvResubmitBudget); v != "" && err == nil {
		n, perr := strconv.Atoi(v)
		if perr != nil || n < 0 {
			err = fmt.Errorf("%s=%q: want a non-negative whole number", EnvResubmitBudget, v)
		}
		cfg.ResubmitBudget = n
	}
	if v := getenv(EnvWorkerSampleRate); v != "" && err == nil {
		r, perr := strconv.ParseFloat(v, 64)
		if perr != nil || r < 0 || r > 1 {
			err = fmt.Errorf("%s=%q: want a rate between 0 and 1", EnvWorkerSampleRate, v)
		}
		cfg.WorkerSampleRate = r
	}
	if err != nil {
		return cfg, project.Settings{}, err
	}
	if cfg.SymbolicatorURL == "" {
		return cfg, project.Settings{}, fmt.Errorf("%s is not set", EnvSymbolicatorURL)
	}
	if cfg.ResultsBucket == "" {
		return cfg, project.Settings{}, fmt.Errorf("%s is not set", EnvResultsBucket)
	}
	settings := project.Settings{
		InternalURLPrefix: getenv(EnvInternalURLPrefix),
		PublicURLPrefix:   getenv(EnvPublicURLPrefix),
		SystemToken:       getenv(EnvSystemToken),
		DebugFilesBucket:  getenv(EnvDebugFilesBucket),
		DebugFilesRegion:  getenv(EnvRegion),
	}
	for _, id := range strings.Split(getenv(EnvIgnoredSources), ",") {
		if id = strings.TrimSpace(id); id != "" {
			settings.IgnoredSourceIDs = append(settings.IgnoredSourceIDs, id)
		}
	}
	return cfg, settings, nil
}
