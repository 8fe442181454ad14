package stack

import (
	"fmt"

	"github.com/symflow/symflow/shared/task"
)

// templateEnv maps the template's parameters to the environment variables
// the functions read, so local mode takes the same defaults as a deploy.
var templateEnv = map[string]string{
	"PollTimeoutSeconds":  task.EnvPollTimeout,
	"PollIntervalSeconds": task.EnvPollInterval,
	"ResubmitBudget":      task.EnvResubmitBudget,
	"DeadlineSeconds":     task.EnvDeadline,
	"WorkerSampleRate":    task.EnvWorkerSampleRate,
}

// applyParameters reads the template parameters' defaults into cfg through
// the same parser the functions use.
func applyParameters(cfg *task.Config, defaults map[string]string) error {
	env := map[string]string{
		task.EnvSymbolicatorURL: "http://placeholder/",
		task.EnvResultsBucket:   ResultsBucket,
	}
	for param, name := range templateEnv {
		if v, ok := defaults[param]; ok {
			env[name] = v
		}
	}
	parsed, _, err := task.ConfigFromEnv(func(k string) string { return env[k] })
	if err != nil {
		return fmt.Errorf("template parameter defaults: %w", err)
	}
	*cfg = parsed
	return nil
}

// overlay copies the non-zero fields of o onto cfg.
func overlay(cfg *task.Config, o task.Config) {
	if o.PollTimeout > 0 {
		cfg.PollTimeout = o.PollTimeout
	}
	if o.PollInterval > 0 {
		cfg.PollInterval = o.PollInterval
	}
	if o.ResubmitBudget > 0 {
		cfg.ResubmitBudget = o.ResubmitBudget
	}
	if o.Deadline > 0 {
		cfg.Deadline = o.Deadline
	}
	if o.BackoffCap > 0 {
		cfg.BackoffCap = o.BackoffCap
	}
	if o.TaskTTL > 0 {
		cfg.TaskTTL = o.TaskTTL
	}
	if o.WorkerSampleRate > 0 {
		cfg.WorkerSampleRate = o.WorkerSampleRate
	}
	if o.NetworkRetryWaits != nil {
		cfg.NetworkRetryWaits = o.NetworkRetryWaits
	}
}
