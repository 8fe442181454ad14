// Package runtimeapi runs the built `bootstrap` binaries of functions/* as
// Lambda would: each execution environment gets its own Lambda Runtime API
// endpoint (2018-06-01, the protocol aws-lambda-go speaks when built with
// -tags lambda.norpc) on 127.0.0.1, and a Function keeps one process per
// environment warm across invocations, restarting it when it exits.
//
// Outcomes are reported the way Lambda reports them to Step Functions: a
// function error carries the errorType and the JSON payload the runtime
// posted; a process that exits mid-invocation is Runtime.ExitError; an
// invocation past the function's timeout is Sandbox.Timedout and the
// environment is replaced. Invoker maps a Task state's resource to a
// Function and turns those outcomes into *asl.TaskError, so local mode's
// process mode (`symflow run --lambda-mode=process`) exercises the same
// binaries that are deployed, built for the host.
//
// Everything listens on loopback only; the processes get dummy
// credentials and no instance metadata, so they reach only the endpoints
// their environment names.
package runtimeapi
