// Package runtimeapi runs the built `bootstrap` binaries of functions/* as
// Lambda would, for local mode's process mode (`symflow run
// --lambda-mode=process`): the binaries that are deployed, built for the
// host, instead of the handlers in-process.
//
//   - Server is one execution environment's Lambda Runtime API (2018-06-01,
//     what aws-lambda-go speaks when built with -tags lambda.norpc) on
//     127.0.0.1. Each environment gets its own endpoint, as on Lambda.
//   - Function keeps one process per environment warm across invocations,
//     one invocation at a time each, restarts it when it exits, and records
//     each cold start's init duration (process start to first /next).
//   - Invoker implements asl.Invoker over Functions.
//   - Build compiles functions/<dir> for the host; TemplateInvoker and
//     LocalEnv configure the processes from template.yaml and point them at
//     local mode's endpoints.
//
// Outcomes are reported as Lambda reports them to Step Functions: a
// function error carries the errorType and the JSON document the runtime
// posted; a process that exits mid-invocation is Runtime.ExitError; an
// invocation past the function's timeout is Sandbox.Timedout and its
// environment is replaced.
//
// Everything listens on loopback only. The processes get dummy
// credentials and no instance metadata service, so they reach only the
// endpoints their environment names.
package runtimeapi
