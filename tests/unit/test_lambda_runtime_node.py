"""The Lambda Node.js runtime: real functions run by the machine's node."""

import asyncio
import base64
import json
import math
import re
import time

import pytest

from cloudlet.services.awslambda import runtime
from cloudlet.services.awslambda.runtime import Invocation, invoke, node_available

pytestmark = pytest.mark.skipif(not node_available(), reason="node is not installed")

RID = "8f507cfc-0000-4697-b07a-ac58fc914c95"
ARN = "arn:aws:lambda:us-east-1:123456789012:function:fn"
REPORT = re.compile(
    rf"REPORT RequestId: {RID}\tDuration: (\d+\.\d\d) ms\tBilled Duration: (\d+) ms\t"
    r"Memory Size: 128 MB\tMax Memory Used: [1-9]\d* MB\t(?:Init Duration: (\d+\.\d\d) ms\t)?(.*)$")
STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"
START = f"START RequestId: {RID} Version: $LATEST"
END = f"END RequestId: {RID}"


def run(tmp_path, files, handler, payload=b'{"k": "v"}', **kw):
    for name, source in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source)
    inv = Invocation(
        code_dir=str(tmp_path), handler=handler, payload=payload,
        env={"AWS_REGION": "us-east-1", **kw.pop("env", {})}, request_id=RID,
        function_name="fn", function_arn=ARN, memory_mb=128, timeout_s=kw.pop("timeout_s", 3.0),
        log_group="/aws/lambda/fn", log_stream="2025/08/31/[$LATEST]3893abc",
        runtime=kw.pop("runtime", "nodejs20.x"), **kw)
    return asyncio.run(invoke(inv))


def report(result):
    """The REPORT line's fields, checking its shape and its billing."""
    m = REPORT.fullmatch(result.log_lines[-1])
    assert m, result.log_lines[-1]
    duration, billed, init, status = float(m[1]), int(m[2]), m[3] and float(m[3]), m[4]
    assert duration == result.duration_ms
    assert billed == math.ceil(round(duration + (init or 0), 6))
    return init, status


def record(line, level, request_id=RID):
    """The message of a console record, checking its prefix."""
    m = re.fullmatch(rf"({STAMP})\t{re.escape(request_id)}\t{level}\t(.*)", line, re.DOTALL)
    assert m, line
    return m[2]


def test_node_is_found_and_python_stays_the_default():
    assert node_available()
    inv = Invocation("/tmp", "f.h", b"", {}, RID, "fn", ARN, 128, 3.0, "g", "s")
    assert inv.runtime == "python3.12"
    inv.runtime = "java21"
    with pytest.raises(ValueError):
        asyncio.run(invoke(inv))


def test_async_handler_returns_an_object(tmp_path):
    r = run(tmp_path, {"index.js": (
        "console.log('loading');\n"
        "exports.handler = async (event, context) => {\n"
        "  return {got: event, n: 1.5, none: null, missing: undefined};\n"
        "};\n")}, "index.handler")
    assert r.payload == b'{"got":{"k":"v"},"n":1.5,"none":null}'
    assert (r.error_type, r.timed_out) == (None, False)
    # module-level output is init's, before START, when no request id is known
    assert record(r.log_lines[0], "INFO", "undefined") == "loading"
    assert r.log_lines[1:3] == [START, END]
    init, status = report(r)
    assert init > 0 and status == ""


def test_no_payload_and_no_return_value(tmp_path):
    files = {"index.mjs": "export const handler = async (event) => { globalThis.seen = event; };\n"
                          "export const echo = async (event) => event;\n"}
    assert run(tmp_path, files, "index.handler", payload=b"").payload == b"null"
    assert run(tmp_path, files, "index.echo", payload=b"").payload == b"{}"


def test_callback_handler_waits_for_the_event_loop(tmp_path):
    files = {"index.js": (
        "exports.handler = (event, context, callback) => {\n"
        "  setTimeout(() => console.log('timer ran'), 100);\n"
        "  callback(null, {via: 'callback', k: event.k});\n"
        "};\n"
        "exports.eager = (event, context, callback) => {\n"
        "  context.callbackWaitsForEmptyEventLoop = false;\n"
        "  setInterval(() => console.log('never'), 1000);\n"
        "  callback(null, 'at once');\n"
        "};\n"
        "exports.done = (event, context) => { context.succeed('succeeded'); context.fail('ignored'); };\n"
        "exports.forgot = (event, context, callback) => { return 'ignored'; };\n"
        "exports.failed = (event, context, callback) => callback('just a string');\n")}
    r = run(tmp_path, files, "index.handler")
    assert r.payload == b'{"via":"callback","k":"v"}' and r.error_type is None
    # the response waits for the pending timer, as callbackWaitsForEmptyEventLoop says
    assert r.log_lines[0] == START and record(r.log_lines[1], "INFO") == "timer ran"
    assert r.log_lines[2] == END
    started = time.monotonic()
    r = run(tmp_path, files, "index.eager")
    assert r.payload == b'"at once"' and r.log_lines[:2] == [START, END]
    assert time.monotonic() - started < 2.5
    assert run(tmp_path, files, "index.done").payload == b'"succeeded"'
    # a handler that is not async and never calls back: null once the loop is empty
    assert run(tmp_path, files, "index.forgot").payload == b"null"
    r = run(tmp_path, files, "index.failed")
    assert r.payload == b'{"errorType":"string","errorMessage":"just a string","trace":[]}'
    assert r.error_type == "Unhandled"


def test_console_lines_between_start_and_end(tmp_path):
    r = run(tmp_path, {"index.js": (
        "exports.handler = async (event, context) => {\n"
        "  console.log('one');\n"
        "  console.log('two\\nthree');\n"
        "  console.info('%s=%d', 'n', 42, {a: [1]});\n"
        "  console.warn('careful');\n"
        "  console.error('bad');\n"
        "  console.debug('details');\n"
        "  process.stdout.write('raw stdout\\n');\n"
        "  process.stderr.write('raw stderr\\n');\n"
        "  return 'logged';\n"
        "};\n")}, "index.handler")
    assert r.payload == b'"logged"'
    lines = r.log_lines
    assert lines[0] == START and lines[9] == END and len(lines) == 11
    assert record(lines[1], "INFO") == "one"
    assert record(lines[2], "INFO") == "two\nthree"  # one event
    assert record(lines[3], "INFO") == "n=42 { a: [ 1 ] }"
    assert record(lines[4], "WARN") == "careful"
    assert record(lines[5], "ERROR") == "bad"
    assert record(lines[6], "DEBUG") == "details"
    assert lines[7:9] == ["raw stdout", "raw stderr"]


def test_log_level_filters_the_console(tmp_path):
    r = run(tmp_path, {"index.js": (
        "exports.handler = async () => { console.debug('hidden'); console.info('hidden too');\n"
        "  console.warn('shown'); };\n")}, "index.handler", env={"AWS_LAMBDA_LOG_LEVEL": "warn"})
    assert [record(x, "WARN") for x in r.log_lines[1:-2]] == ["shown"]


def test_a_thrown_error(tmp_path):
    r = run(tmp_path, {"index.js": (
        "exports.handler = async (event, context) => {\n"
        "  console.log('before');\n"
        "  throw new Error('bad thing');\n"
        "};\n")}, "index.handler")
    doc = json.loads(r.payload)
    assert list(doc) == ["errorType", "errorMessage", "trace"]
    assert (doc["errorType"], doc["errorMessage"]) == ("Error", "bad thing")
    assert doc["trace"][0] == "Error: bad thing"
    assert re.fullmatch(rf"    at .*\({re.escape(str(tmp_path / 'index.js'))}:3:9\)", doc["trace"][1])
    assert r.error_type == "Unhandled" and not r.timed_out
    lines = r.log_lines
    assert lines[0] == START and record(lines[1], "INFO") == "before" and lines[3] == END
    message = record(lines[2], "ERROR")
    assert message.startswith("Invoke Error \t{")
    logged = json.loads(message.removeprefix("Invoke Error \t"))
    assert logged == {"errorType": "Error", "errorMessage": "bad thing", "stack": doc["trace"]}
    assert report(r)[1] == ""  # a function error is no runtime failure


def test_a_missing_module_fails_init_twice(tmp_path):
    r = run(tmp_path, {}, "missing.handler")
    message = f"Error: Cannot find module 'missing'\nRequire stack:\n- {runtime.BOOTSTRAP_JS}"
    doc = json.loads(r.payload)
    assert (doc["errorType"], doc["errorMessage"]) == ("Runtime.ImportModuleError", message)
    assert doc["trace"][:3] == ["Runtime.ImportModuleError: Error: Cannot find module 'missing'",
                                "Require stack:", f"- {runtime.BOOTSTRAP_JS}"]
    assert r.error_type == "Unhandled"
    lines = r.log_lines
    for logged, phase in ((lines[0], "init"), (lines[2], "invoke")):
        text = record(logged, "ERROR", "undefined")
        assert text.startswith("Uncaught Exception \t")
        assert json.loads(text.removeprefix("Uncaught Exception \t"))["errorMessage"] == message
    for init_report, phase in ((lines[1], "init"), (lines[3], "invoke")):
        assert re.fullmatch(rf"INIT_REPORT Init Duration: \d+\.\d\d ms\tPhase: {phase}\tStatus: error"
                            r"\tError Type: Runtime.ImportModuleError", init_report)
    assert lines[4:6] == [START, END]
    assert report(r) == (None, "Status: error\tError Type: Runtime.ImportModuleError\t")
    assert len(lines) == 7


def test_a_missing_export_and_a_malformed_handler(tmp_path):
    r = run(tmp_path, {"index.js": "console.log('module ran');\nexports.other = 1;\n"}, "index.handler")
    doc = json.loads(r.payload)
    assert (doc["errorType"], doc["errorMessage"]) == \
        ("Runtime.HandlerNotFound", "index.handler is undefined or not exported")
    assert sum(record(x, "INFO", "undefined") == "module ran"
               for x in r.log_lines if "\tINFO\t" in x) == 2
    assert report(r)[1] == "Status: error\tError Type: Runtime.HandlerNotFound\t"
    r = run(tmp_path, {}, "index.other")
    assert json.loads(r.payload)["errorMessage"] == "index.other is not a function"
    doc = json.loads(run(tmp_path, {}, "nodot").payload)
    assert (doc["errorType"], doc["errorMessage"]) == ("Runtime.MalformedHandlerName", "Bad handler")


def test_a_syntax_error(tmp_path):
    r = run(tmp_path, {"index.js": "exports.handler = async (event) => {\n"}, "index.handler")
    doc = json.loads(r.payload)
    assert doc["errorType"] == "Runtime.UserCodeSyntaxError"
    assert doc["errorMessage"].startswith("SyntaxError: ")


def test_timeout_kills_the_function(tmp_path):
    started = time.monotonic()
    r = run(tmp_path, {"index.js": (
        "exports.handler = async () => {\n"
        "  console.log('sleeping');\n"
        "  await new Promise(resolve => setTimeout(resolve, 5000));\n"
        "};\n")}, "index.handler", timeout_s=1)
    assert time.monotonic() - started < 3
    assert r.payload == (b'{"errorType":"Sandbox.Timedout","errorMessage":"RequestId: '
                         + RID.encode() + b' Error: Task timed out after 1.00 seconds"}')
    assert (r.error_type, r.timed_out, r.duration_ms) == ("Unhandled", True, 1000.0)
    assert record(r.log_lines[1], "INFO") == "sleeping"
    assert re.fullmatch(rf"{STAMP} {RID} Task timed out after 1\.00 seconds", r.log_lines[2])
    assert r.log_lines[3] == END
    init, status = report(r)
    assert init and status == "Status: timeout\t"


def test_es_modules(tmp_path):
    files = {
        "app.mjs": ("import { greeting } from './lib.mjs';\n"
                    "const loaded = await Promise.resolve('top-level await');\n"
                    "export const handler = async (event) => ({greeting, loaded, isCjs: typeof require});\n"),
        "lib.mjs": "export const greeting = 'hello from esm';\n",
        "pkg/package.json": '{"type": "module"}',
        "pkg/handlers/fn.js": "export async function handler() { return import.meta.url; }\n",
    }
    r = run(tmp_path, files, "app.handler")
    assert json.loads(r.payload) == {"greeting": "hello from esm", "loaded": "top-level await", "isCjs": "undefined"}
    r = run(tmp_path, files, "pkg/handlers/fn.handler")
    assert json.loads(r.payload) == (tmp_path / "pkg/handlers/fn.js").as_uri()


def test_commonjs_in_a_directory_and_node_modules(tmp_path):
    files = {
        "src/handlers/api.cjs": "const dep = require('dep');\nexports.main = async () => dep.value;\n",
        "node_modules/dep/index.js": "exports.value = 'from node_modules';\n",
    }
    assert run(tmp_path, files, "src/handlers/api.main").payload == b'"from node_modules"'


def test_context_fields(tmp_path):
    client_context = base64.b64encode(json.dumps(
        {"client": {"installation_id": "inst-1", "app_title": "app"}, "custom": {"a": 1}, "env": {"locale": "en"}}
    ).encode()).decode()
    source = (
        "exports.handler = async (event, c) => [c.functionName, c.functionVersion, c.invokedFunctionArn,\n"
        "  c.memoryLimitInMB, c.awsRequestId, c.logGroupName, c.logStreamName, c.identity === undefined,\n"
        "  c.clientContext, c.callbackWaitsForEmptyEventLoop, typeof c.done, typeof c.succeed,\n"
        "  typeof c.fail, c.getRemainingTimeInMillis()];\n")
    r = run(tmp_path, {"index.js": source}, "index.handler", timeout_s=2, client_context=client_context)
    *fields, remaining = json.loads(r.payload)
    assert fields == ["fn", "$LATEST", ARN, "128", RID, "/aws/lambda/fn", "2025/08/31/[$LATEST]3893abc", True,
                      {"client": {"installation_id": "inst-1", "app_title": "app"}, "custom": {"a": 1},
                       "env": {"locale": "en"}},
                      True, "function", "function", "function"]
    assert 1000 < remaining <= 2000
    r = run(tmp_path, {"index.js": source}, "index.handler")
    assert json.loads(r.payload)[8] is None  # no ClientContext: undefined, null in JSON


def test_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("CLOUDLET_SECRET", "server side")
    names = ["AWS_REGION", "AWS_DEFAULT_REGION", "MY_SETTING", "TZ", "_HANDLER", "LAMBDA_TASK_ROOT",
             "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION",
             "AWS_EXECUTION_ENV", "NODE_PATH", "CLOUDLET_SECRET"]
    r = run(tmp_path, {"index.js": (
        f"const NAMES = {json.dumps(names)};\n"
        "exports.handler = async () => [Object.fromEntries(NAMES.map(n => [n, process.env[n] ?? null])),\n"
        "  process.cwd(), process.argv.length];\n")},
        "index.handler", env={"MY_SETTING": "42"}, runtime="nodejs22.x")
    env, cwd, argc = json.loads(r.payload)
    assert env == {
        "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1", "MY_SETTING": "42", "TZ": ":UTC",
        "_HANDLER": "index.handler", "LAMBDA_TASK_ROOT": str(tmp_path), "AWS_LAMBDA_FUNCTION_NAME": "fn",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128", "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_EXECUTION_ENV": "AWS_Lambda_nodejs22.x",
        "NODE_PATH": f"{tmp_path / 'node_modules'}:{tmp_path}",
        "CLOUDLET_SECRET": None,
    }
    assert cwd == str(tmp_path) and argc == 2  # [node, bootstrap]: nothing of the runtime's arguments


def test_unhandled_rejection_and_unsettled_promise(tmp_path):
    files = {"index.js": (
        "exports.handler = async () => {\n"
        "  Promise.reject(new Error('nobody listens'));\n"
        "  await new Promise(resolve => setTimeout(resolve, 200));\n"
        "  return 'too late';\n"
        "};\n"
        "exports.stuck = async () => new Promise(() => {});\n")}
    r = run(tmp_path, files, "index.handler")
    doc = json.loads(r.payload)
    assert (doc["errorType"], doc["errorMessage"]) == ("Runtime.UnhandledPromiseRejection", "Error: nobody listens")
    logged = record(r.log_lines[1], "ERROR")
    assert logged.startswith("Unhandled Promise Rejection \t{")
    reason = json.loads(logged.split("\t", 1)[1])["reason"]
    assert (reason["errorType"], reason["errorMessage"]) == ("Error", "nobody listens")
    r = run(tmp_path, files, "index.stuck")
    assert json.loads(r.payload)["errorType"] == "Runtime.NodeJsExit"
    assert record(r.log_lines[1], "ERROR").startswith("Invoke Error \t{")
    # one the module leaves behind fails init
    r = run(tmp_path, {"init.js": "Promise.reject(new Error('at load'));\nexports.handler = async () => 1;\n"},
            "init.handler")
    assert json.loads(r.payload)["errorMessage"] == "Error: at load"
    assert report(r) == (None, "Status: error\tError Type: Runtime.UnhandledPromiseRejection\t")


def test_exiting_is_a_runtime_exit_error(tmp_path):
    r = run(tmp_path, {"index.js": "exports.handler = async () => process.exit(3);\n"}, "index.handler")
    message = f"RequestId: {RID} Error: Runtime exited with error: exit status 3"
    assert r.payload == json.dumps({"errorType": "Runtime.ExitError", "errorMessage": message},
                                   separators=(",", ":")).encode()
    assert r.log_lines[1] == f"{message}\nRuntime.ExitError"
    assert report(r)[1] == "Status: error\tError Type: Runtime.ExitError\t"


def test_an_unserializable_result(tmp_path):
    r = run(tmp_path, {"index.js": "exports.handler = async () => ({n: 1n});\n"}, "index.handler")
    doc = json.loads(r.payload)
    assert (doc["errorType"], doc["errorMessage"]) == ("Error", "Unable to stringify response body")
