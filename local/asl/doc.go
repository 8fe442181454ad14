// Package asl is an Amazon States Language interpreter: it parses a Step
// Functions definition (JSONPath query language) and runs executions of it
// in-process, with Task resources served by an injected Invoker and time by
// an injected Clock. symflow's local mode runs the production state machine
// file with it; production stays on AWS Step Functions.
//
// Behaviour follows the AWS documentation: input and output processing
// (InputPath, Parameters, ResultSelector, ResultPath, OutputPath), the
// context object, all intrinsic functions, Retry and Catch, every Choice
// operator, inline Map and Parallel. The execution history uses the event
// names and detail fields of GetExecutionHistory.
//
// The lambda:invoke integration (arn:aws:states:::lambda:invoke) invokes
// Parameters.FunctionName with Parameters.Payload and wraps the result as
// AWS does:
//
//	{"ExecutedVersion": "$LATEST", "Payload": <result>,
//	 "SdkHttpMetadata": {"AllHttpHeaders": {...}, "HttpHeaders": {...}, "HttpStatusCode": 200},
//	 "SdkResponseMetadata": {"RequestId": <uuid>}, "StatusCode": 200}
//
// A plain Lambda function ARN gets the effective input and its raw result
// is the task result. A function error (*TaskError) surfaces under its Name
// for both.
//
// Choices where AWS documents nothing precise, and known differences:
//   - Objects keep their members in the order written, as AWS does; only
//     the context object ($$) lists its members in key order.
//   - States.StringSplit splits on each delimiter character and drops
//     empty pieces; States.MathRandom draws from [start, end).
//   - TimeoutSecondsPath is read from the task input (after Parameters).
//   - States.IntrinsicFailure and States.ResultPathMatchFailure can be
//     caught; States.Runtime and States.DataLimitExceeded cannot.
//   - HeartbeatSeconds is validated but not enforced (no callback tasks);
//     .waitForTaskToken, distributed Map and JSONata are not supported.
//
// Executions outlive runs. Redrive runs a FAILED, TIMED_OUT or ABORTED
// execution again from the state it did not complete, as Step Functions'
// RedriveExecution does: the same execution and history, an
// ExecutionRedriven event, $$.Execution.RedriveCount and RedriveTime in the
// context object, TimeoutSeconds counted from the redrive, and Step
// Functions' refusals (NotRedrivableError). A Fail state is the state an
// execution that reached it did not complete: redriving it fails again. A
// failed Map or Parallel state is run again whole (Step Functions reruns
// only its failed iterations and branches). Options.Checkpoint hands out
// the record at every state entered, Options.Suspend ends a run at a state
// boundary without ending the execution, and Resume continues a RUNNING
// record from the state it was in (a state in flight runs again), so an
// embedding process can stop or die without losing executions.
//
// Time: every wait, retry pause and timeout goes through Options.Clock.
// NewFakeClock gives an instant clock whose Sleep moves virtual time, so
// tests run Wait states and back-off at once; a Task times out on it only
// when its invoker sleeps on the same clock past TimeoutSeconds.
package asl
