// Runs conformance cases in the npm engine aws-local-stepfunctions, so the
// Go test can compare it with local/asl. Usage:
//
//   node npm-runner.mjs MODULE_DIR < cases.json > results.json
//
// MODULE_DIR is the node_modules/aws-local-stepfunctions directory. stdin is
// a JSON array of cases ({name, definition, input, tasks, npm_real_waits});
// stdout is a JSON array of {name, status, output, error, cause, path}.
// Task states are served by local handlers built from each case's "tasks"
// (see conformance_test.go); waits and retry pauses are overridden to 0 ms
// unless the case sets npm_real_waits.

import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { join } from 'node:path';

// Node 20 lacks Promise.withResolvers, which the engine uses.
if (typeof Promise.withResolvers !== 'function') {
  Promise.withResolvers = function withResolvers() {
    let resolve, reject;
    const promise = new this((res, rej) => {
      resolve = res;
      reject = rej;
    });
    return { promise, resolve, reject };
  };
}

const moduleDir = process.argv[2];
if (!moduleDir) {
  console.error('usage: node npm-runner.mjs MODULE_DIR < cases.json');
  process.exit(2);
}
const pkg = JSON.parse(readFileSync(join(moduleDir, 'package.json'), 'utf8'));
const { StateMachine } = await import(pathToFileURL(join(moduleDir, 'build', 'main.node.esm.js')).href);

const LAMBDA_INVOKE = 'arn:aws:states:::lambda:invoke';
// Must match the Go engine's defaults (DefaultStateMachineArn) and the
// execution name the Go test uses.
const SM_ARN = 'arn:aws:states:us-east-1:123456789012:stateMachine:symflow';
const EXEC_NAME = 'conformance';

// Every state of a definition, nested machines included.
function* allStates(def) {
  for (const [name, st] of Object.entries(def.States ?? {})) {
    yield [name, st];
    const inner = st.ItemProcessor ?? st.Iterator;
    if (inner) yield* allStates(inner);
    for (const b of st.Branches ?? []) yield* allStates(b);
  }
}

// The same response shape as local/asl's lambdaResponse; the fields that
// differ per run (request id, date) are fixed here and are never compared.
function lambdaResponse(payload) {
  const body = JSON.stringify(payload);
  const reqId = '00000000-0000-0000-0000-000000000000';
  return {
    ExecutedVersion: '$LATEST',
    Payload: payload,
    SdkHttpMetadata: {
      AllHttpHeaders: {
        'X-Amz-Executed-Version': ['$LATEST'],
        'x-amzn-RequestId': [reqId],
        Connection: ['keep-alive'],
        'Content-Length': [String(body.length)],
        Date: ['Thu, 01 Jan 1970 00:00:00 GMT'],
        'Content-Type': ['application/json'],
      },
      HttpHeaders: {
        Connection: 'keep-alive',
        'Content-Length': String(body.length),
        'Content-Type': 'application/json',
        Date: 'Thu, 01 Jan 1970 00:00:00 GMT',
        'X-Amz-Executed-Version': '$LATEST',
        'x-amzn-RequestId': reqId,
      },
      HttpStatusCode: 200,
    },
    SdkResponseMetadata: { RequestId: reqId },
    StatusCode: 200,
  };
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

function makeHandlers(c) {
  const calls = {};
  const handlers = {};
  for (const [name, st] of allStates(c.definition)) {
    if (st.Type !== 'Task') continue;
    handlers[name] = async (input) => {
      let key = st.Resource;
      let payload = input;
      const invoke = st.Resource === LAMBDA_INVOKE;
      if (invoke) {
        key = input.FunctionName;
        payload = input.Payload ?? {};
      }
      let spec = (c.tasks ?? {})[key];
      if (spec === undefined) {
        const e = new Error(`no task response configured for ${key}`);
        e.name = 'TaskNotConfigured';
        throw e;
      }
      if (Array.isArray(spec)) {
        const n = calls[key] ?? 0;
        calls[key] = n + 1;
        spec = spec[Math.min(n, spec.length - 1)];
      }
      if (spec.sleep) await sleep(spec.sleep * 1000);
      if (spec.error !== undefined) {
        const e = new Error(spec.cause ?? '');
        e.name = spec.error;
        throw e;
      }
      const out = spec.echo ? payload : spec.output ?? null;
      return invoke ? lambdaResponse(out) : out;
    };
  }
  return handlers;
}

function topLevelPath(def, events) {
  const top = new Set(Object.keys(def.States ?? {}));
  return events
    .filter((e) => e.type === 'StateEntered' && e.index === undefined && top.has(e.state.name))
    .map((e) => e.state.name);
}

async function runCase(c) {
  let sm;
  try {
    sm = new StateMachine(c.definition);
  } catch (err) {
    return { name: c.name, status: 'INVALID', cause: String(err.message ?? err), path: [] };
  }
  const waitTimeOverrides = {};
  const retryIntervalOverrides = {};
  for (const [name, st] of allStates(c.definition)) {
    if (st.Type === 'Wait' && !c.npm_real_waits) waitTimeOverrides[name] = 0;
    if (st.Retry) retryIntervalOverrides[name] = 0;
  }
  const context = {
    Execution: {
      Id: SM_ARN.replace(':stateMachine:', ':execution:') + ':' + EXEC_NAME,
      Name: EXEC_NAME,
      RoleArn: '',
    },
    StateMachine: { Id: SM_ARN, Name: 'symflow' },
  };
  const execution = sm.run(c.input, {
    overrides: { taskResourceLocalHandlers: makeHandlers(c), waitTimeOverrides, retryIntervalOverrides },
    context,
  });
  const events = [];
  const collecting = (async () => {
    for await (const e of execution.eventLogs) events.push(e);
  })();
  const res = { name: c.name, path: [] };
  try {
    res.output = await execution.result;
    res.status = 'SUCCEEDED';
  } catch (err) {
    if (err.name === 'ExecutionTimeoutError') {
      res.status = 'TIMED_OUT';
      res.error = 'States.Timeout';
    } else if (err.name === 'ExecutionError') {
      res.status = 'FAILED';
      res.error = err.cause?.name;
      res.cause = String(err.cause?.message ?? '');
    } else {
      res.status = 'CRASHED';
      res.error = err.name;
      res.cause = String(err.stack ?? err);
    }
  }
  await Promise.race([collecting, sleep(1000)]);
  res.path = topLevelPath(c.definition, events);
  return res;
}

const cases = JSON.parse(readFileSync(0, 'utf8'));
const results = [];
for (const c of cases) {
  const started = Date.now();
  try {
    results.push({ ...(await runCase(c)), ms: Date.now() - started });
  } catch (err) {
    results.push({ name: c.name, status: 'CRASHED', cause: String(err.stack ?? err), path: [] });
  }
}
process.stdout.write(JSON.stringify({ version: pkg.version, results }));
process.exit(0);
