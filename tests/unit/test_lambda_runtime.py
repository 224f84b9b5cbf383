"""The Lambda Python runtime: real functions run in real processes."""

import asyncio
import base64
import json
import math
import re
import time

from cloudlet.services.awslambda import runtime
from cloudlet.services.awslambda.runtime import Invocation, invoke

RID = "8f507cfc-0000-4697-b07a-ac58fc914c95"
ARN = "arn:aws:lambda:us-east-1:123456789012:function:fn"
NBSP = "\u00a0"
REPORT = re.compile(
    rf"REPORT RequestId: {RID}\tDuration: (\d+\.\d\d) ms\tBilled Duration: (\d+) ms\t"
    r"Memory Size: 128 MB\tMax Memory Used: [1-9]\d* MB\t(?:Init Duration: (\d+\.\d\d) ms\t)?(.*)$")
STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"


def run(tmp_path, files, handler, payload=b'{"k": "v"}', **kw):
    for name, source in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source)
    inv = Invocation(
        code_dir=str(tmp_path), handler=handler, payload=payload,
        env={"AWS_REGION": "us-east-1", **kw.pop("env", {})}, request_id=RID,
        function_name="fn", function_arn=ARN, memory_mb=128, timeout_s=kw.pop("timeout_s", 3.0),
        log_group="/aws/lambda/fn", log_stream="2025/08/31/[$LATEST]3893abc", **kw)
    return asyncio.run(invoke(inv))


def report(result):
    """The REPORT line's fields, checking its shape and its billing."""
    m = REPORT.fullmatch(result.log_lines[-1])
    assert m, result.log_lines[-1]
    duration, billed, init, status = float(m[1]), int(m[2]), m[3] and float(m[3]), m[4]
    assert duration == result.duration_ms
    assert billed == math.ceil(round(duration + (init or 0), 6))
    return init, status


def test_returns_the_handler_value_as_json(tmp_path):
    r = run(tmp_path, {"lambda_function.py": (
        "def lambda_handler(event, context):\n"
        "    return {'got': event, 'n': 1.5, 'none': None}\n")}, "lambda_function.lambda_handler")
    assert r.payload == b'{"got": {"k": "v"}, "n": 1.5, "none": null}'
    assert (r.error_type, r.timed_out) == (None, False)
    assert r.log_lines[:2] == [f"START RequestId: {RID} Version: $LATEST", f"END RequestId: {RID}"]
    init, status = report(r)
    assert init > 0 and status == ""  # every invocation is a cold start


def test_no_payload_is_an_empty_object(tmp_path):
    r = run(tmp_path, {"f.py": "def h(event, context):\n    return event\n"}, "f.h", payload=b"")
    assert r.payload == b"{}"


def test_print_and_logging_lines(tmp_path):
    r = run(tmp_path, {"f.py": (
        "import logging, sys\n"
        "print('loading')\n"
        "def h(event, context):\n"
        "    print('one')\n"
        "    print('two\\nthree')\n"
        "    print('to stderr', file=sys.stderr)\n"
        "    logging.getLogger().info('hidden: the root logger stays at WARNING')\n"
        "    logging.getLogger('app').warning('careful %s', 1)\n"
        "    logging.error('multi\\nline record')\n"
        "    context.log('from context')\n"
        "    return None\n")}, "f.h")
    assert r.payload == b"null"
    lines = r.log_lines
    # module-level output is init's, before START, as in Lambda
    assert lines[:5] == ["loading", f"START RequestId: {RID} Version: $LATEST", "one", "two", "three"]
    assert lines[5] == "to stderr"
    assert re.fullmatch(rf"\[WARNING\]\t{STAMP}\t{RID}\tcareful 1", lines[6])
    assert re.fullmatch(rf"\[ERROR\]\t{STAMP}\t{RID}\tmulti\nline record", lines[7])  # one event
    assert lines[8:10] == ["from context", f"END RequestId: {RID}"]
    assert len(lines) == 11 and lines[10].startswith("REPORT ")


def test_an_exception_is_the_error_document(tmp_path):
    r = run(tmp_path, {"f.py": (
        "def h(event, context):\n"
        "    print('before')\n"
        "    return helper()\n"
        "def helper():\n"
        "    raise ValueError('bad thing')\n")}, "f.h")
    path = tmp_path / "f.py"
    trace = [f'  File "{path}", line 3, in h\n    return helper()\n',
             f'  File "{path}", line 5, in helper\n    raise ValueError(\'bad thing\')\n']
    assert r.payload == json.dumps({"errorMessage": "bad thing", "errorType": "ValueError",
                                    "requestId": RID, "stackTrace": trace}).encode()
    assert r.error_type == "Unhandled" and not r.timed_out
    assert r.log_lines[1:4] == [
        "before",
        ("[ERROR] ValueError: bad thing\nTraceback (most recent call last):\n"
         f'{NBSP * 2}File "{path}", line 3, in h\n{NBSP * 4}return helper()\n'
         f'{NBSP * 2}File "{path}", line 5, in helper\n{NBSP * 4}raise ValueError(\'bad thing\')'),
        f"END RequestId: {RID}",
    ]
    assert report(r)[1] == ""  # a function error is no runtime failure


def test_an_import_error_fails_init_twice(tmp_path):
    r = run(tmp_path, {}, "missing.handler")
    message = "Unable to import module 'missing': No module named 'missing'"
    assert r.payload == json.dumps({"errorMessage": message, "errorType": "Runtime.ImportModuleError",
                                    "requestId": "", "stackTrace": []}).encode()
    assert r.error_type == "Unhandled"
    error = f"[ERROR] Runtime.ImportModuleError: {message}\nTraceback (most recent call last):"
    lines = r.log_lines
    # Lambda's init phase fails, then its init inside the invocation ("suppressed") too
    for warning, phase in ((lines[0], lines[2]), (lines[3], lines[5])):
        assert re.fullmatch(rf"\[WARNING\]\t{STAMP}\t\tLAMBDA_WARNING: Unhandled exception\. .*", warning)
    assert lines[1] == lines[4] == error
    assert re.fullmatch(r"INIT_REPORT Init Duration: \d+\.\d\d ms\tPhase: init\tStatus: error"
                        r"\tError Type: Runtime.ImportModuleError", lines[2])
    assert re.fullmatch(r"INIT_REPORT Init Duration: \d+\.\d\d ms\tPhase: invoke\tStatus: error"
                        r"\tError Type: Runtime.ImportModuleError", lines[5])
    assert lines[6:8] == [f"START RequestId: {RID} Version: $LATEST", f"END RequestId: {RID}"]
    assert report(r) == (None, "Status: error\tError Type: Runtime.ImportModuleError\t")
    assert len(lines) == 9


def test_a_missing_handler(tmp_path):
    r = run(tmp_path, {"f.py": "print('module ran')\n"}, "f.nope")
    assert json.loads(r.payload) == {"errorMessage": "Handler 'nope' missing on module 'f'",
                                     "errorType": "Runtime.HandlerNotFound", "requestId": "", "stackTrace": []}
    assert r.log_lines.count("module ran") == 2
    assert report(r)[1] == "Status: error\tError Type: Runtime.HandlerNotFound\t"


def test_a_syntax_error_and_a_malformed_handler(tmp_path):
    r = run(tmp_path, {"f.py": "def h(event, context)\n    return 1\n"}, "f.h")
    doc = json.loads(r.payload)
    assert doc["errorType"] == "Runtime.UserCodeSyntaxError"
    assert doc["errorMessage"].startswith("Syntax error in module 'f': ")
    assert doc["stackTrace"] == [f'  File "{tmp_path / "f.py"}" Line 1\n    def h(event, context)\n']
    r = run(tmp_path, {}, "nodot")
    assert json.loads(r.payload)["errorMessage"] == \
        "Bad handler 'nodot': not enough values to unpack (expected 2, got 1)"
    assert json.loads(r.payload)["errorType"] == "Runtime.MalformedHandlerName"


def test_timeout_kills_the_function(tmp_path):
    started = time.monotonic()
    r = run(tmp_path, {"f.py": (
        "import time\n"
        "def h(event, context):\n"
        "    print('sleeping')\n"
        "    time.sleep(5)\n")}, "f.h", timeout_s=1)
    assert time.monotonic() - started < 3
    assert r.payload == (b'{"errorType":"Sandbox.Timedout","errorMessage":"RequestId: '
                         + RID.encode() + b' Error: Task timed out after 1.00 seconds"}')
    assert (r.error_type, r.timed_out, r.duration_ms) == ("Unhandled", True, 1000.0)
    assert r.log_lines[1] == "sleeping"
    assert re.fullmatch(rf"{STAMP} {RID} Task timed out after 1\.00 seconds", r.log_lines[2])
    assert r.log_lines[3] == f"END RequestId: {RID}"
    init, status = report(r)
    assert init and status == "Status: timeout\t"


def test_an_init_past_its_limit_is_retried_within_the_timeout(tmp_path, monkeypatch):
    monkeypatch.setattr(runtime, "INIT_LIMIT_S", 0.3)  # Lambda's is 10 s
    r = run(tmp_path, {"f.py": "import time\nprint('init')\ntime.sleep(5)\ndef h(e, c):\n    pass\n"},
            "f.h", timeout_s=1)
    assert r.timed_out and json.loads(r.payload)["errorType"] == "Sandbox.Timedout"
    lines = r.log_lines
    assert lines[0] == lines[2] == "init"
    assert re.fullmatch(r"INIT_REPORT Init Duration: \d+\.\d\d ms\tPhase: init\tStatus: timeout", lines[1])
    assert re.fullmatch(r"INIT_REPORT Init Duration: \d+\.\d\d ms\tPhase: invoke\tStatus: timeout", lines[3])
    assert lines[4] == f"START RequestId: {RID} Version: $LATEST"
    assert report(r) == (None, "Status: timeout\t")


def test_a_return_value_that_is_not_json(tmp_path):
    r = run(tmp_path, {"f.py": "def h(event, context):\n    return {1, 2}\n"}, "f.h")
    message = "Unable to marshal response: Object of type set is not JSON serializable"
    assert r.payload == json.dumps({"errorMessage": message, "errorType": "Runtime.MarshalError",
                                    "requestId": RID, "stackTrace": []}).encode()
    assert r.log_lines[1] == f"[ERROR] Runtime.MarshalError: {message}\nTraceback (most recent call last):"


def test_exiting_is_a_runtime_exit_error(tmp_path):
    r = run(tmp_path, {"f.py": "import sys\ndef h(event, context):\n    sys.exit(3)\n"}, "f.h")
    message = f"RequestId: {RID} Error: Runtime exited with error: exit status 3"
    assert r.payload == json.dumps({"errorType": "Runtime.ExitError", "errorMessage": message},
                                   separators=(",", ":")).encode()
    assert r.log_lines[1] == f"{message}\nRuntime.ExitError"
    assert report(r)[1] == "Status: error\tError Type: Runtime.ExitError\t"


def test_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("CLOUDLET_SECRET", "server side")
    names = ["AWS_REGION", "AWS_DEFAULT_REGION", "MY_SETTING", "TZ", "_HANDLER", "LAMBDA_TASK_ROOT",
             "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION",
             "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME", "AWS_EXECUTION_ENV",
             "AWS_LAMBDA_INITIALIZATION_TYPE", "CLOUDLET_SECRET"]
    r = run(tmp_path, {"f.py": (
        "import os, sys\n"
        f"NAMES = {names!r}\n"
        "def h(event, context):\n"
        "    return [{n: os.environ.get(n) for n in NAMES}, os.getcwd(), sys.path[0]]\n")},
        "f.h", env={"MY_SETTING": "42", "AWS_LAMBDA_FUNCTION_VERSION": "7"})
    env, cwd, path0 = json.loads(r.payload)
    assert env.pop("AWS_EXECUTION_ENV").startswith("AWS_Lambda_python3.")
    assert env == {
        "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1", "MY_SETTING": "42", "TZ": ":UTC",
        "_HANDLER": "f.h", "LAMBDA_TASK_ROOT": str(tmp_path), "AWS_LAMBDA_FUNCTION_NAME": "fn",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
        "AWS_LAMBDA_FUNCTION_VERSION": "7",  # the caller's word wins
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/fn", "AWS_LAMBDA_LOG_STREAM_NAME": "2025/08/31/[$LATEST]3893abc",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand", "CLOUDLET_SECRET": None,
    }
    assert cwd == path0 == str(tmp_path)


def test_context(tmp_path):
    client_context = base64.b64encode(json.dumps(
        {"client": {"installation_id": "inst-1", "app_title": "app"}, "custom": {"a": 1}, "env": {"locale": "en"}}
    ).encode()).decode()
    r = run(tmp_path, {"f.py": (
        "def h(event, context):\n"
        "    c = context\n"
        "    cc = c.client_context\n"
        "    return [c.function_name, c.function_version, c.invoked_function_arn, c.memory_limit_in_mb,\n"
        "            c.aws_request_id, c.log_group_name, c.log_stream_name,\n"
        "            c.identity.cognito_identity_id, c.identity.cognito_identity_pool_id,\n"
        "            cc.client.installation_id, cc.client.app_title, cc.client.app_version_name,\n"
        "            cc.custom, cc.env, c.get_remaining_time_in_millis()]\n")},
        "f.h", timeout_s=2, client_context=client_context)
    *fields, remaining = json.loads(r.payload)
    assert fields == ["fn", "$LATEST", ARN, "128", RID, "/aws/lambda/fn", "2025/08/31/[$LATEST]3893abc",
                      None, None, "inst-1", "app", None, {"a": 1}, {"locale": "en"}]
    assert 1000 < remaining <= 2000


def test_package_module_handler(tmp_path):
    files = {"src/app/handlers.py": "from app import util\ndef h(event, context):\n    return util.X\n",
             "src/app/util.py": "X = 'from a package'\n"}
    r = run(tmp_path, files, "src/app/handlers.h", env={"PYTHONPATH": str(tmp_path / "src")})
    assert r.payload == b'"from a package"'
    files["app2/__init__.py"] = ""
    files["app2/mod.py"] = "def h(event, context):\n    return __name__\n"
    assert run(tmp_path, files, "app2/mod.h").payload == b'"app2.mod"'
    assert run(tmp_path, files, "app2.mod.h").payload == b'"app2.mod"'


def test_what_the_handler_leaves_running_goes_with_it(tmp_path):
    started = time.monotonic()
    r = run(tmp_path, {"f.py": (
        "import subprocess, threading, time\n"
        "def h(event, context):\n"
        "    subprocess.Popen(['sleep', '30'])\n"
        "    threading.Thread(target=time.sleep, args=(30,)).start()\n"
        "    return 'done'\n")}, "f.h")
    assert r.payload == b'"done"' and time.monotonic() - started < 3
