/**
 * The Lambda Node.js runtime for one invocation, run in a fresh process.
 *
 * runtime.py starts it by path (`node [flags] bootstrap.js META`) as Lambda's
 * /var/runtime/bootstrap starts /var/runtime/index.mjs. It is a CommonJS file
 * that needs nothing but Node's own modules.
 *
 * It behaves as AWS's runtime interface client (aws-lambda-nodejs-runtime-
 * interface-client, the runtime of nodejs18.x to nodejs22.x) does: how the
 * handler is found and loaded (require for CommonJS, import() for ES modules)
 * and its failures named (Runtime.ImportModuleError, Runtime.HandlerNotFound,
 * ...), the context object, callbacks and callbackWaitsForEmptyEventLoop, the
 * patched console and its "<time>\t<request id>\t<LEVEL>\t<message>" lines,
 * the "Invoke Error" / "Uncaught Exception" / "Unhandled Promise Rejection"
 * records and the {errorType, errorMessage, trace} document are the RIC's.
 *
 * Channels, as in bootstrap.py: fd 1 and 2 are one pipe, the function's log.
 * The patched console writes records framed by a per-invocation token (as
 * the RIC writes to Lambda's telemetry fd), so a multi-line message stays one
 * CloudWatch event; a frame also marks the end of init and the end. The
 * result goes to the file named in META, never to stdout.
 */

'use strict';

const fs = require('fs');
const path = require('path');
const util = require('util');
const { pathToFileURL } = require('url');
const { Writable } = require('stream');

const META = JSON.parse(process.argv[2]);
// Lambda's node sees [node, /var/runtime/index.mjs]: no META for the function.
process.argv.splice(2);
const TOKEN = Buffer.from('\0' + META.token + '\0');
const reallyExit = (process.reallyExit || process.exit).bind(process); // no 'exit' listeners
const REQUEST_ID_SYMBOL = Symbol.for('aws.lambda.runtime.requestId');
const sleeper = new Int32Array(new SharedArrayBuffer(4));

/* ----------------------------------------------------------------- output */

function writeAll(buf) {
  let off = 0;
  while (off < buf.length) {
    try {
      off += fs.writeSync(1, buf, off, buf.length - off);
    } catch (e) {
      if (e.code === 'EAGAIN') {
        Atomics.wait(sleeper, 0, 0, 1); // the pipe is full: the parent reads it
      } else if (e.code === 'EPIPE') {
        return; // the parent is gone, and this process with it soon
      } else {
        throw e;
      }
    }
  }
}

function frame(kind, text) {
  const data = Buffer.from(text, 'utf8');
  const head = Buffer.from(kind + data.length.toString(16).padStart(8, '0'), 'latin1');
  writeAll(Buffer.concat([TOKEN, head, data]));
}

// process.stdout and process.stderr write at once, so that what a function
// writes to them keeps its place among the framed records, and none is left
// in a queue when the process ends.
for (const stream of [process.stdout, process.stderr]) {
  stream.write = function (chunk, encoding, cb) {
    if (typeof encoding === 'function') {
      cb = encoding;
      encoding = undefined;
    }
    if (typeof chunk === 'string') {
      writeAll(Buffer.from(chunk, encoding || 'utf8'));
    } else if (chunk != null) {
      writeAll(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    }
    if (typeof cb === 'function') process.nextTick(cb);
    return true;
  };
}

/* ----------------------------------------------------------------- errors */

function _isError(obj) {
  return (
    obj &&
    obj.name &&
    obj.message &&
    obj.stack &&
    typeof obj.name === 'string' &&
    typeof obj.message === 'string' &&
    typeof obj.stack === 'string'
  );
}

function intoError(err) {
  return err instanceof Error ? err : new Error(err);
}

function toRapidResponse(error) {
  try {
    if (util.types.isNativeError(error) || _isError(error)) {
      return {
        errorType: error.name?.replaceAll('\x7F', '%7F'),
        errorMessage: error.message?.replaceAll('\x7F', '%7F'),
        trace: error.stack.replaceAll('\x7F', '%7F').split('\n'),
      };
    }
    return { errorType: typeof error, errorMessage: error.toString(), trace: [] };
  } catch (_err) {
    return {
      errorType: 'handled',
      errorMessage:
        'callback called with Error argument, but there was a problem while retrieving one or more of its message, name, and stack',
    };
  }
}

function _withEnumerableProperties(error) {
  if (error instanceof Error) {
    const ret = Object.assign(
      { errorType: error.name, errorMessage: error.message, code: error.code },
      error,
    );
    if (typeof error.stack == 'string') ret.stack = error.stack.split('\n');
    return ret;
  }
  return error;
}

/** For compatibility the RIC's formatted error always starts with a tab. */
function toFormatted(error) {
  try {
    return '\t' + JSON.stringify(error, (_k, v) => _withEnumerableProperties(v));
  } catch (err) {
    return '\t' + JSON.stringify(toRapidResponse(error));
  }
}

const Errors = {};
[
  class ImportModuleError extends Error {},
  class HandlerNotFound extends Error {},
  class MalformedHandlerName extends Error {},
  class UserCodeSyntaxError extends Error {},
  class MalformedStreamingHandler extends Error {},
  class InvalidStreamingOperation extends Error {},
  class NodeJsExit extends Error {
    constructor() {
      super(
        'The Lambda runtime client detected an unexpected Node.js exit code. This is most commonly caused by a Promise that was never settled. For more information, see https://nodejs.org/docs/latest/api/process.html#exit-codes',
      );
    }
  },
  class UnhandledPromiseRejection extends Error {
    constructor(reason, promise) {
      super(reason);
      this.reason = reason;
      this.promise = promise;
    }
  },
].forEach((e) => {
  Errors[e.name] = e;
  e.prototype.name = `Runtime.${e.name}`;
});

/* ---------------------------------------------------------------- console */

const structuredConsole = {};

function patchConsole() {
  const log = (level, message, ...params) => {
    const requestId = global[REQUEST_ID_SYMBOL];
    frame('L', `${new Date().toISOString()}\t${requestId}\t${level.name}\t${util.format(message, ...params)}\n`);
  };
  const NopLog = () => {};
  const levels = Object.freeze({
    TRACE: { name: 'TRACE', priority: 1 },
    DEBUG: { name: 'DEBUG', priority: 2 },
    INFO: { name: 'INFO', priority: 3 },
    WARN: { name: 'WARN', priority: 4 },
    ERROR: { name: 'ERROR', priority: 5 },
    FATAL: { name: 'FATAL', priority: 6 },
  });
  const min = levels[process.env['AWS_LAMBDA_LOG_LEVEL']?.toUpperCase()] ?? levels.TRACE;
  const at = (level) =>
    level.priority >= min.priority ? (msg, ...params) => log(level, msg, ...params) : NopLog;
  console.trace = at(levels.TRACE);
  console.debug = at(levels.DEBUG);
  console.info = at(levels.INFO);
  console.log = console.info;
  console.warn = at(levels.WARN);
  console.error = at(levels.ERROR);
  console.fatal = (msg, ...params) => log(levels.FATAL, msg, ...params);
  structuredConsole.logError = (msg, err) => {
    console.error(msg, toFormatted(intoError(err)));
  };
}

/* ------------------------------------------------------------- the client */

const timing = { started: null };

/** The end of the process: Lambda freezes the sandbox once the runtime has
 * posted, and this one is never thawed. */
function finish(status, errorType, body) {
  const durationMs = timing.started === null ? null : performance.now() - timing.started;
  const head = JSON.stringify({
    status,
    errorType,
    durationMs,
    maxRssKb: process.resourceUsage().maxRSS,
  });
  fs.writeFileSync(META.result, Buffer.concat([Buffer.from(head + '\n'), Buffer.from(body, 'utf8')]));
  frame('E', '');
  reallyExit(0);
}

function _trySerializeResponse(body) {
  try {
    return JSON.stringify(body === undefined ? null : body) ?? 'null';
  } catch (err) {
    throw new Error('Unable to stringify response body');
  }
}

const client = {
  postInitError(error) {
    const response = toRapidResponse(error);
    finish('init_error', response.errorType, _trySerializeResponse(response));
  },
  postInvocationResponse(response) {
    finish('ok', null, _trySerializeResponse(response));
  },
  postInvocationError(error) {
    const response = toRapidResponse(error);
    finish('error', response.errorType, _trySerializeResponse(response));
  },
};

/* -------------------------------------------------------- the beforeExit */

const LISTENER_SYMBOL = Symbol.for('aws.lambda.beforeExit');
const NO_OP_LISTENER = () => {};
const BeforeExitListener = {
  invoke: () => global[LISTENER_SYMBOL](),
  reset: () => (global[LISTENER_SYMBOL] = NO_OP_LISTENER),
  set: (listener) => (global[LISTENER_SYMBOL] = listener),
};

/* ---------------------------------------------------------------- loading */

const FUNCTION_EXPR = /^([^.]*)\.(.*)$/;
const RELATIVE_PATH_SUBSTRING = '..';
const HANDLER_STREAMING = Symbol.for('aws.lambda.runtime.handler.streaming');
const HANDLER_HIGHWATERMARK = Symbol.for('aws.lambda.runtime.handler.streaming.highWaterMark');
const STREAM_RESPONSE = 'response';
const METADATA_PRELUDE_CONTENT_TYPE = 'application/vnd.awslambda.http-integration-response';

class HttpResponseStream {
  static from(underlyingStream, prelude) {
    underlyingStream.setContentType(METADATA_PRELUDE_CONTENT_TYPE);
    const metadataPrelude = JSON.stringify(prelude);
    underlyingStream._onBeforeFirstWrite = (write) => {
      write(metadataPrelude);
      write(new Uint8Array(8));
    };
    return underlyingStream;
  }
}

function _moduleRootAndHandler(fullHandlerString) {
  const handlerString = path.basename(fullHandlerString);
  const moduleRoot = fullHandlerString.substring(0, fullHandlerString.indexOf(handlerString));
  return [moduleRoot, handlerString];
}

function _splitHandlerString(handler) {
  const match = handler.match(FUNCTION_EXPR);
  if (!match || match.length != 3) {
    throw new Errors.MalformedHandlerName('Bad handler');
  }
  return [match[1], match[2]];
}

function _resolveHandler(object, nestedProperty) {
  return nestedProperty.split('.').reduce((nested, key) => nested && nested[key], object);
}

function _tryRequireFile(file, extension) {
  const p = file + (extension || '');
  return fs.existsSync(p) ? require(p) : undefined;
}

async function _tryAwaitImport(file, extension) {
  const p = file + (extension || '');
  return fs.existsSync(p) ? await import(pathToFileURL(p).href) : undefined;
}

function _hasFolderPackageJsonTypeModule(folder) {
  if (folder.endsWith('/node_modules')) return false;
  const pj = path.join(folder, '/package.json');
  if (fs.existsSync(pj)) {
    try {
      const pkg = JSON.parse(fs.readFileSync(pj));
      if (pkg) return pkg.type === 'module';
    } catch (e) {
      console.warn(`${pj} cannot be read, it will be ignored for ES module detection purposes.`, e);
      return false;
    }
  }
  if (folder === '/') return false;
  return _hasFolderPackageJsonTypeModule(path.resolve(folder, '..'));
}

async function _tryRequire(appRoot, moduleRoot, module) {
  const lambdaStylePath = path.resolve(appRoot, moduleRoot, module);
  const extensionless = _tryRequireFile(lambdaStylePath);
  if (extensionless) return extensionless;

  const pjHasModule = _hasFolderPackageJsonTypeModule(path.resolve(path.dirname(lambdaStylePath)));
  if (!pjHasModule) {
    const loaded = _tryRequireFile(lambdaStylePath, '.js');
    if (loaded) return loaded;
  }
  const loaded =
    (pjHasModule && (await _tryAwaitImport(lambdaStylePath, '.js'))) ||
    (await _tryAwaitImport(lambdaStylePath, '.mjs')) ||
    _tryRequireFile(lambdaStylePath, '.cjs');
  if (loaded) return loaded;

  // As the RIC: a last try through Node's resolution, whose failure is the
  // "Cannot find module" of Runtime.ImportModuleError.
  const nodeStylePath = require.resolve(module, { paths: [appRoot, moduleRoot] });
  return require(nodeStylePath);
}

async function _loadUserApp(appRoot, moduleRoot, module) {
  const noGlobal = ['1', 'true'].includes(process.env['AWS_LAMBDA_NODEJS_NO_GLOBAL_AWSLAMBDA']);
  if (!noGlobal) {
    globalThis.awslambda = {
      streamifyResponse: (handler, options) => {
        handler[HANDLER_STREAMING] = STREAM_RESPONSE;
        if (typeof options?.highWaterMark === 'number') {
          handler[HANDLER_HIGHWATERMARK] = parseInt(options.highWaterMark);
        }
        return handler;
      },
      HttpResponseStream: HttpResponseStream,
    };
  }
  try {
    return await _tryRequire(appRoot, moduleRoot, module);
  } catch (e) {
    if (e instanceof SyntaxError) {
      throw new Errors.UserCodeSyntaxError(e);
    } else if (e.code !== undefined && e.code === 'MODULE_NOT_FOUND') {
      throw new Errors.ImportModuleError(e);
    }
    throw e;
  }
}

async function load(appRoot, fullHandlerString) {
  if (fullHandlerString.includes(RELATIVE_PATH_SUBSTRING)) {
    throw new Errors.MalformedHandlerName(
      `'${fullHandlerString}' is not a valid handler name. Use absolute paths when specifying root directories in handler names.`,
    );
  }
  const [moduleRoot, moduleAndHandler] = _moduleRootAndHandler(fullHandlerString);
  const [module, handlerPath] = _splitHandlerString(moduleAndHandler);
  const userApp = await _loadUserApp(appRoot, moduleRoot, module);
  const handlerFunc = _resolveHandler(userApp, handlerPath);
  if (!handlerFunc) {
    throw new Errors.HandlerNotFound(`${fullHandlerString} is undefined or not exported`);
  }
  if (typeof handlerFunc !== 'function') {
    throw new Errors.HandlerNotFound(`${fullHandlerString} is not a function`);
  }
  return handlerFunc;
}

function getHandlerMetadata(handler) {
  let streaming = false;
  const mark = handler[HANDLER_STREAMING];
  if (mark !== undefined && mark !== null && mark !== false) {
    if (mark !== STREAM_RESPONSE) {
      throw new Errors.MalformedStreamingHandler('Only response streaming is supported.');
    }
    streaming = STREAM_RESPONSE;
  }
  let isAsync = false;
  try {
    isAsync = handler.constructor?.name === 'AsyncFunction';
  } catch (_e) {
    isAsync = false;
  }
  const hwm = parseInt(handler[HANDLER_HIGHWATERMARK]);
  return { streaming, highWaterMark: isNaN(hwm) ? undefined : hwm, isAsync, argsNum: handler.length };
}

/* ---------------------------------------------------------------- context */

function buildCallbackContext(markDone) {
  const postError = (err) => {
    structuredConsole.logError('Invoke Error', err);
    client.postInvocationError(err);
  };
  let isCompleteInvoked = false;
  const complete = (result) => {
    if (isCompleteInvoked) {
      console.error(
        'Invocation has already been reported as done. Cannot call complete more than once per invocation.',
      );
      return;
    }
    isCompleteInvoked = true;
    client.postInvocationResponse(result);
  };
  let waitForEmptyEventLoop = true;

  const callback = function (err, result) {
    BeforeExitListener.reset();
    if (err !== undefined && err !== null) {
      postError(err);
    } else if (!waitForEmptyEventLoop) {
      complete(result);
    } else {
      BeforeExitListener.set(() => setImmediate(() => complete(result)));
    }
  };
  const done = (err, result) => {
    BeforeExitListener.reset();
    if (err !== undefined && err !== null) {
      postError(err);
    } else {
      complete(result);
    }
  };
  const succeed = (result) => done(null, result);
  const fail = (err) => (err === undefined || err === null ? done('handled') : done(err, null));

  // Only the first call of any of them counts.
  let finished = false;
  const once = (toWrap) =>
    function () {
      if (!finished) {
        toWrap.apply(null, arguments);
        finished = true;
      }
    };
  const callbackContext = {
    get callbackWaitsForEmptyEventLoop() {
      return waitForEmptyEventLoop;
    },
    set callbackWaitsForEmptyEventLoop(value) {
      waitForEmptyEventLoop = value;
    },
    succeed: once(succeed),
    fail: once(fail),
    done: once(done),
  };
  markDone.markCompleted = () => {
    isCompleteInvoked = true;
  };
  return [once(callback), callbackContext];
}

function _parseJson(jsonString, name) {
  if (jsonString === undefined) return undefined;
  try {
    return JSON.parse(jsonString);
  } catch (err) {
    throw new Error(`Cannot parse ${name} as json: ${err.toString()}`);
  }
}

function attachEnvironmentData(target, deadline) {
  // Lambda passes Invoke's ClientContext to the runtime as decoded JSON.
  const b64 = META.client_context;
  const clientContext = b64 ? Buffer.from(b64, 'base64').toString('utf8') : undefined;
  return Object.assign(
    target,
    {
      functionVersion: process.env['AWS_LAMBDA_FUNCTION_VERSION'],
      functionName: process.env['AWS_LAMBDA_FUNCTION_NAME'],
      memoryLimitInMB: process.env['AWS_LAMBDA_FUNCTION_MEMORY_SIZE'],
      logGroupName: process.env['AWS_LAMBDA_LOG_GROUP_NAME'],
      logStreamName: process.env['AWS_LAMBDA_LOG_STREAM_NAME'],
    },
    {
      clientContext: _parseJson(clientContext, 'ClientContext'),
      identity: _parseJson(META.identity, 'CognitoIdentity'),
      invokedFunctionArn: META.function_arn,
      awsRequestId: META.request_id,
      tenantId: undefined,
      getRemainingTimeInMillis: function () {
        return deadline - Date.now();
      },
    },
  );
}

/* ---------------------------------------------------------------- runtime */

function _isPromise(obj) {
  return obj && obj.then && typeof obj.then === 'function';
}

class Runtime {
  constructor(handler, metadata, errorCallbacks) {
    this.handler = handler;
    this.handlerMetadata = metadata;
    this.errorCallbacks = errorCallbacks;
  }

  _setErrorCallbacks() {
    this.errorCallbacks.uncaughtException = (error) => client.postInvocationError(error);
    this.errorCallbacks.unhandledRejection = (error) => client.postInvocationError(error);
  }

  handleOnce(bodyJson, deadline) {
    global[REQUEST_ID_SYMBOL] = META.request_id;
    if (this.handlerMetadata.streaming === STREAM_RESPONSE) {
      return this.handleOnceStreaming(bodyJson, deadline);
    }
    const marks = {};
    const [callback, callbackContext] = buildCallbackContext(marks);
    try {
      this._setErrorCallbacks();
      BeforeExitListener.set(() => {
        marks.markCompleted();
        if (this.handlerMetadata.isAsync) {
          // An async handler whose promise never settled.
          const nodeJsExitError = new Errors.NodeJsExit();
          structuredConsole.logError('Invoke Error', nodeJsExitError);
          client.postInvocationError(nodeJsExitError);
        } else {
          // A handler that never called its callback: a null response.
          client.postInvocationResponse(null);
        }
      });
      timing.started = performance.now();
      const result = this.handler(
        JSON.parse(bodyJson),
        attachEnvironmentData(callbackContext, deadline),
        callback,
      );
      if (_isPromise(result)) {
        result.then(callbackContext.succeed, callbackContext.fail).catch(callbackContext.fail);
      }
    } catch (err) {
      callback(err);
    }
  }

  async handleOnceStreaming(bodyJson, deadline) {
    // Invoke is buffered: what the handler streams is the response.
    const chunks = [];
    const responseStream = new Writable({
      highWaterMark: this.handlerMetadata.highWaterMark,
      write(chunk, _encoding, cb) {
        chunks.push(Buffer.from(chunk));
        cb();
      },
    });
    responseStream.setContentType = () => {}; // Invoke's response has none
    const originalWrite = responseStream.write.bind(responseStream);
    responseStream.write = (chunk, ...rest) => {
      const before = responseStream._onBeforeFirstWrite;
      if (before) {
        responseStream._onBeforeFirstWrite = undefined;
        before((c) => originalWrite(c));
      }
      return originalWrite(chunk, ...rest);
    };
    const fail = (err) => {
      structuredConsole.logError('Invoke Error', err);
      client.postInvocationError(err);
    };
    this._setErrorCallbacks();
    BeforeExitListener.reset();
    try {
      const event = JSON.parse(bodyJson);
      const context = attachEnvironmentData(
        {
          get callbackWaitsForEmptyEventLoop() {
            return true;
          },
          set callbackWaitsForEmptyEventLoop(_value) {},
        },
        deadline,
      );
      timing.started = performance.now();
      const handlerResult = this.handler(event, responseStream, context);
      if (!_isPromise(handlerResult)) {
        fail('Streaming does not support non-async handlers.');
        return;
      }
      const result = await handlerResult;
      if (typeof result !== 'undefined') {
        console.warn('Streaming handlers ignore return values.');
      }
      if (!responseStream.writableFinished) {
        fail('Response stream is not finished.');
        return;
      }
      finish('ok', null, Buffer.concat(chunks).toString('utf8'));
    } catch (err) {
      fail(err);
    }
  }
}

/* ------------------------------------------------------------------- main */

async function main() {
  patchConsole();

  const errorCallbacks = {
    uncaughtException: (error) => client.postInitError(error),
    unhandledRejection: (error) => client.postInitError(error),
  };
  process.on('uncaughtException', (error) => {
    structuredConsole.logError('Uncaught Exception', error);
    errorCallbacks.uncaughtException(error);
  });
  process.on('unhandledRejection', (reason, promise) => {
    const error = new Errors.UnhandledPromiseRejection(reason, promise);
    structuredConsole.logError('Unhandled Promise Rejection', error);
    errorCallbacks.unhandledRejection(error);
  });
  BeforeExitListener.reset();
  process.on('beforeExit', BeforeExitListener.invoke);

  let handlerFunc, metadata;
  try {
    handlerFunc = await load(process.env.LAMBDA_TASK_ROOT, process.env._HANDLER);
    metadata = getHandlerMetadata(handlerFunc);
  } catch (error) {
    // Lambda's index.mjs awaits this at its top level: a failure is an
    // uncaught exception, posted as the init error.
    structuredConsole.logError('Uncaught Exception', error);
    errorCallbacks.uncaughtException(error);
    return;
  }
  // Init ends when the RIC first asks for an invocation, one turn of the
  // event loop later: a rejection the module left unhandled is init's.
  await new Promise((resolve) => setImmediate(resolve));
  frame('I', '');

  const runtime = new Runtime(handlerFunc, metadata, errorCallbacks);
  // Invoke without a payload sends {} (runtime.py writes it).
  const bodyJson = fs.readFileSync(0, 'utf8');
  const deadline = META.deadline_ms || Date.now() + Math.round(META.timeout_s * 1000);
  runtime.handleOnce(bodyJson, deadline);
}

main();
