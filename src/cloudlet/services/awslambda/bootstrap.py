"""The Lambda Python runtime for one invocation, run in a fresh process.

runtime.py starts it by path (``python -u -s -B bootstrap.py META``), so it
imports nothing of cloudlet and must stay standard library only, and runnable
by older Pythons than cloudlet's own (a function may pin its interpreter).

It behaves as AWS's runtime interface client (awslambdaric) does: how the
handler is imported and its failures named (Runtime.ImportModuleError,
Runtime.HandlerNotFound, ...), the context object, the root logger's format,
the error document and the "[ERROR]" record logged for it are awslambdaric's.

Channels. fd 1 and 2 are one pipe, the function's log. What the runtime logs
itself (logging records, error reports, context.log) goes to that pipe framed
by a per-invocation token, as Lambda's runtime frames its telemetry, so a
multi-line record stays one CloudWatch event; a frame also marks the end of
init, which tells the parent which output came before START. The result goes
to the file named in META, never to stdout.
"""

import base64
import decimal
import importlib
import json
import logging
import os
import sys
import threading
import time
import traceback

try:
    import resource
except ImportError:  # not on Windows
    resource = None

# Everything the runtime needs is imported above, before the function's
# directory goes first on sys.path: a function's resource.py must not win.
META = json.loads(sys.argv[1])
TOKEN = b"\0" + META["token"].encode() + b"\0"

# Lambda's runtime shows up as /var/runtime/bootstrap.py; its own directory
# must not shadow the function's modules.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.argv[:] = [os.path.abspath(__file__)]
if sys.path and os.path.abspath(sys.path[0] or os.curdir) == _HERE:
    del sys.path[0]
sys.path.insert(0, os.environ["LAMBDA_TASK_ROOT"])
os.environ.setdefault("AWS_EXECUTION_ENV", "AWS_Lambda_python%d.%d" % sys.version_info[:2])

ERROR_LOG_IDENT = "\u00a0"  # awslambdaric indents traceback lines with NO-BREAK SPACE
UNHANDLED_WARNING = (
    "LAMBDA_WARNING: Unhandled exception. The most likely cause is an issue in the function code. "
    "However, in rare cases, a Lambda runtime update can cause unexpected function behavior. "
    "For functions using managed runtimes, runtime updates can be triggered by a function change, "
    "or can be applied automatically. To determine if the runtime has been updated, check the "
    "runtime version in the INIT_START log entry. If this error correlates with a change in the "
    "runtime version, you may be able to mitigate this error by temporarily rolling back to the "
    "previous runtime version. For more information, see "
    "https://docs.aws.amazon.com/lambda/latest/dg/runtimes-update.html"
)

_request_id = ""
# One lock for every write to the pipe: a frame must not be split by a print
# from another thread.
_lock = threading.RLock()


class Fault(Exception):
    """awslambdaric's FaultException: a failure the runtime names itself."""

    MARSHAL_ERROR = "Runtime.MarshalError"
    UNMARSHAL_ERROR = "Runtime.UnmarshalError"
    USER_CODE_SYNTAX_ERROR = "Runtime.UserCodeSyntaxError"
    HANDLER_NOT_FOUND = "Runtime.HandlerNotFound"
    IMPORT_MODULE_ERROR = "Runtime.ImportModuleError"
    BUILT_IN_MODULE_CONFLICT = "Runtime.BuiltInModuleConflict"
    MALFORMED_HANDLER_NAME = "Runtime.MalformedHandlerName"
    LAMBDA_CONTEXT_UNMARSHAL_ERROR = "Runtime.LambdaContextUnmarshalError"

    def __init__(self, exception_type, msg, trace=None):
        self.exception_type, self.msg, self.trace = exception_type, msg, trace


def _write(data):
    while data:
        data = data[os.write(1, data):]


def _frame(kind, text):
    data = text.encode("utf-8", "backslashreplace")
    with _lock:
        _write(TOKEN + kind + b"%08x" % len(data) + data)


class Unbuffered:
    """stdout and stderr flushed on every write, as in Lambda."""

    def __init__(self, stream):
        self.stream = stream

    def __getattr__(self, attr):
        return getattr(self.stream, attr)

    def write(self, msg):
        with _lock:
            n = self.stream.write(msg)
            self.stream.flush()
        return n

    def writelines(self, msgs):
        with _lock:
            self.stream.writelines(msgs)
            self.stream.flush()


class LambdaLoggerHandler(logging.Handler):
    def emit(self, record):
        try:
            _frame(b"L", self.format(record))
        except Exception:
            self.handleError(record)


class LambdaLoggerFilter(logging.Filter):
    def filter(self, record):
        record.aws_request_id = _request_id
        return True


def _setup_logging():
    logging.Formatter.converter = time.gmtime
    handler = LambdaLoggerHandler()
    handler.setFormatter(logging.Formatter(
        "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s\n",
        "%Y-%m-%dT%H:%M:%S",
    ))
    handler.addFilter(LambdaLoggerFilter())
    logger = logging.getLogger()
    # The root logger stays at WARNING unless the function's logging config
    # says otherwise, hence Lambda's famous missing logger.info lines.
    raw = os.environ.get("AWS_LAMBDA_LOG_LEVEL")
    level = {None: "", "TRACE": "DEBUG"}.get(raw, raw).upper()
    if isinstance(logging.getLevelName(level), int):
        logger.setLevel(level)
    logger.addHandler(handler)


def _get_handler(handler):
    try:
        modname, fname = handler.rsplit(".", 1)
    except ValueError as e:
        raise Fault(Fault.MALFORMED_HANDLER_NAME, "Bad handler '{}': {}".format(handler, e))
    try:
        if modname.split(".")[0] in sys.builtin_module_names:
            raise Fault(Fault.BUILT_IN_MODULE_CONFLICT,
                        "Cannot use built-in module {} as a handler module".format(modname))
        m = importlib.import_module(modname.replace("/", "."))
    except ImportError as e:
        raise Fault(Fault.IMPORT_MODULE_ERROR, "Unable to import module '{}': {}".format(modname, e))
    except SyntaxError as e:
        trace = ['  File "%s" Line %s\n    %s' % (e.filename, e.lineno, e.text)]
        raise Fault(Fault.USER_CODE_SYNTAX_ERROR,
                    "Syntax error in module '{}': {}".format(modname, e), trace)
    try:
        return getattr(m, fname)
    except AttributeError:
        raise Fault(Fault.HANDLER_NOT_FOUND, "Handler '{}' missing on module '{}'".format(fname, modname))


def make_error(error_message, error_type, stack_trace, invoke_id=None):
    return {
        "errorMessage": error_message if error_message else "",
        "errorType": error_type if error_type else "",
        "requestId": invoke_id if invoke_id is not None else "",
        "stackTrace": stack_trace if stack_trace else [],
    }


def _user_frames(tb):
    """The traceback from the first frame that is not the runtime's."""
    tuples = [(f.filename, f.lineno, f.name, f.line) for f in traceback.extract_tb(tb)]
    for i, t in enumerate(tuples):
        if "/bootstrap.py" not in t[0]:
            return tuples[i:]
    return tuples


def _fault_result(invoke_id=None):
    etype, value, tb = sys.exc_info()
    return make_error(str(value), etype.__name__, traceback.format_list(_user_frames(tb)), invoke_id)


def _indent(line):
    n = len(line) - len(line.lstrip(" "))
    return ERROR_LOG_IDENT * n + line[n:]


def log_error(error_result):
    description = "[ERROR]"
    if error_result.get("errorType"):
        description += " " + error_result["errorType"]
    if error_result.get("errorMessage"):
        if error_result.get("errorType"):
            description += ":"
        description += " " + error_result["errorMessage"]
    lines = [description]
    stack_trace = error_result.get("stackTrace")
    if stack_trace is not None:
        lines.append("Traceback (most recent call last):")
        for element in stack_trace:
            lines.extend([""] if element == "" else [_indent(x) for x in element.splitlines()])
    _frame(b"L", "\n".join(lines))


class CognitoIdentity:
    __slots__ = ["cognito_identity_id", "cognito_identity_pool_id"]


class Client:
    __slots__ = ["installation_id", "app_title", "app_version_name", "app_version_code", "app_package_name"]


class ClientContext:
    __slots__ = ["custom", "env", "client"]


def _from_dict(cls, d):
    if d is None:
        return None
    obj = cls()
    for name in cls.__slots__:
        setattr(obj, name, d.get(name))
    return obj


class LambdaContext:
    def __init__(self, invoke_id, client_context, invoked_function_arn, deadline_ms):
        self.aws_request_id = invoke_id
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        # A string, as in Lambda: it comes from the environment.
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.invoked_function_arn = invoked_function_arn
        self.tenant_id = None
        self.client_context = _from_dict(ClientContext, client_context)
        if self.client_context is not None:
            self.client_context.client = _from_dict(Client, self.client_context.client)
        self.identity = _from_dict(CognitoIdentity, {})
        self._epoch_deadline_time_in_ms = deadline_ms

    def get_remaining_time_in_millis(self):
        delta = self._epoch_deadline_time_in_ms - int(time.time() * 1000)
        return delta if delta > 0 else 0

    def log(self, msg):
        _frame(b"L", str(msg))

    def __repr__(self):
        return ("LambdaContext([aws_request_id={0.aws_request_id},log_group_name={0.log_group_name},"
                "log_stream_name={0.log_stream_name},function_name={0.function_name},"
                "memory_limit_in_mb={0.memory_limit_in_mb},function_version={0.function_version},"
                "invoked_function_arn={0.invoked_function_arn},client_context={0.client_context},"
                "identity={0.identity},tenant_id={0.tenant_id}])").format(self)


def _client_context(b64):
    if not b64:
        return None
    try:
        return json.loads(base64.b64decode(b64))
    except Exception as e:
        raise Fault(Fault.LAMBDA_CONTEXT_UNMARSHAL_ERROR, "Unable to parse Client Context JSON: {}".format(e))


class Encoder(json.JSONEncoder):
    """simplejson's encoder in awslambdaric, approximated: a Decimal becomes a
    number (simplejson writes its digits exactly; float is the nearest the
    standard library can do), non-ASCII stays unescaped from python3.12 on."""

    def __init__(self):
        env = os.environ.get("AWS_EXECUTION_ENV", "")
        try:
            modern = tuple(int(x) for x in env.split("python", 1)[1].split(".")) >= (3, 12)
        except (IndexError, ValueError):
            modern = False
        super().__init__(ensure_ascii=not modern)

    def default(self, o):
        if isinstance(o, decimal.Decimal):
            if o.is_nan():
                return float("nan")
            return int(o) if o == o.to_integral_value() else float(o)
        return super().default(o)


def _read_event():
    chunks = []
    while True:
        chunk = os.read(0, 1 << 16)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def _unmarshal(body):
    try:
        return json.loads(body)
    except Exception as e:
        raise Fault(Fault.UNMARSHAL_ERROR, "Unable to unmarshal input: {}".format(e))


def _marshal(response):
    if isinstance(response, bytes):
        return response
    try:
        return Encoder().encode(response).encode("utf-8")
    except Exception as e:
        raise Fault(Fault.MARSHAL_ERROR, "Unable to marshal response: {}".format(e))


def _finish(status, error_type, body, duration_ms=None):
    """Write the result file and end the process: Lambda freezes the sandbox
    once the response is posted, and this one is never thawed."""
    rss_kb = None
    if resource is not None:
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        rss_kb = rss // 1024 if sys.platform == "darwin" else rss  # bytes there, KiB elsewhere
    head = {"status": status, "errorType": error_type, "durationMs": duration_ms, "maxRssKb": rss_kb}
    with open(META["result"], "wb") as f:
        f.write(json.dumps(head).encode() + b"\n" + body)
    with _lock:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
        _frame(b"E", "")
    os._exit(0)


def main():
    global _request_id
    sys.stdout = Unbuffered(sys.stdout)
    sys.stderr = Unbuffered(sys.stderr)
    try:
        _setup_logging()
        request_handler = _get_handler(os.environ["_HANDLER"])
    except Exception as e:
        if isinstance(e, Fault):
            error_result = make_error(e.msg, e.exception_type, e.trace)
        else:
            error_result = _fault_result()
        logging.warning(UNHANDLED_WARNING)
        log_error(error_result)
        _finish("init_error", error_result["errorType"], _marshal(error_result))
    _frame(b"I", "")

    _request_id = META["request_id"]
    started = time.perf_counter()
    deadline_ms = META.get("deadline_ms") or int(time.time() * 1000 + META["timeout_s"] * 1000)
    error_result = None
    try:
        context = LambdaContext(_request_id, _client_context(META.get("client_context")),
                                META["function_arn"], deadline_ms)
        event = _unmarshal(_read_event())
        body = _marshal(request_handler(event, context))
    except Fault as e:
        error_result = make_error(e.msg, e.exception_type, e.trace, _request_id)
    except Exception:
        error_result = _fault_result(_request_id)
    duration_ms = (time.perf_counter() - started) * 1000
    if error_result is not None:
        log_error(error_result)
        _finish("error", error_result["errorType"], _marshal(error_result), duration_ms)
    _finish("ok", None, body, duration_ms)


if __name__ == "__main__":
    main()
