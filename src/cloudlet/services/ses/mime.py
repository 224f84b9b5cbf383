"""Email messages as SES builds them (SendEmail) and reads them (SendRawEmail).

Where the facts come from:

- Sizes: "The maximum message size, including attachments, is 10 MB" (v1
  SendRawEmail); 40 MB for the v2 API ("Working with email attachments in
  SES", and the April 2022 launch note). Read here as MiB. Up to 50
  recipients across To, CC and BCC.
- Headers: the guide's "Amazon SES header fields" lists the fields that may
  appear only once (SINGLE_HEADERS); SES overwrites Date and Message-ID.
- Error texts, all InvalidParameterValue, as SES was seen to answer them
  (issue threads quoting SES): "Duplicate header 'DKIM-Signature'.",
  "Illegal header '<!DOCTYPE html PUBLIC ... \"http'." (the name is whatever
  stands before the first colon of a header line), "Empty header names are
  illegal.", "Missing required header 'From'.", and for addresses "Missing
  final '@domain'", "Local address contains control or whitespace", "Domain
  contains control or whitespace", "Illegal address", "Extra route-addr",
  "Missing local name", "Missing domain". Those address texts are word for
  word JavaMail's (InternetAddress), and SES's answers to the addresses seen
  match `new InternetAddress(text, true)`: "Karen, Chan <k@x.com>" is two
  addresses, so "Illegal address"; "Karen <k @x.com>" fails the local part.
  `parse_address` is a port of that parser and check.

Decided here, where nothing says: a header line without a colon is an
illegal header; an empty message, or one with no header fields, is a
MimeError (the guide: "The message has to contain a header and a body"); the
local part may hold non-ASCII (JavaMail allows it, though the guide says
SES supports only 7-bit local parts); SendEmail bodies use 7bit when ASCII,
quoted-printable when mostly ASCII, base64 otherwise (JavaMail's rule);
newlines in header values become spaces.
"""

from __future__ import annotations

import base64
import io
import quopri
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from email import policy
from email.generator import BytesGenerator
from email.header import Header, decode_header, make_header
from email.message import Message
from email.parser import BytesParser
from email.utils import format_datetime, formataddr, getaddresses, make_msgid, parseaddr

MAX_RAW_SIZE_V1 = 10 * 1024 * 1024   # SendRawEmail
MAX_RAW_SIZE_V2 = 40 * 1024 * 1024   # v2 SendEmail (Raw, Simple with attachments)
MAX_RAW_V1, MAX_RAW_V2 = MAX_RAW_SIZE_V1, MAX_RAW_SIZE_V2   # the names the provider uses
MAX_RECIPIENTS = 50
MESSAGE_ID_DOMAIN = "email.amazonses.com"   # us-east-1; other Regions: <region>.amazonses.com

# -- address errors (InvalidParameterValue) ------------------------------------
ILLEGAL_ADDRESS = "Illegal address"                 # no address, or several ("a@x.com, b@x.com")
EMPTY_ADDRESS = "Empty address"                     # "Name <>"
MISSING_FINAL_DOMAIN = "Missing final '@domain'"    # no @ at all ("bob", "Bob <bob>")
MISSING_LOCAL_NAME = "Missing local name"           # "@example.com"
MISSING_DOMAIN = "Missing domain"                   # "bob@"
LOCAL_CONTROL_OR_WHITESPACE = "Local address contains control or whitespace"  # "bo b@x.com", "Bob <bob @x.com>"
LOCAL_ILLEGAL_CHARACTER = "Local address contains illegal character"          # "bo(b@x.com", "bo,b" in <...>
LOCAL_STARTS_WITH_DOT = "Local address starts with dot"                       # ".bob@x.com"
LOCAL_ENDS_WITH_DOT = "Local address ends with dot"                           # "bob.@x.com"
LOCAL_DOT_DOT = "Local address contains dot-dot"                              # "bo..b@x.com"
DOMAIN_CONTROL_OR_WHITESPACE = "Domain contains control or whitespace"        # "Bob <bob@ex ample.com>"
DOMAIN_ILLEGAL_CHARACTER = "Domain contains illegal character"                # "bob@exa_mple.com", "bob@x.com;"
DOMAIN_STARTS_WITH_DOT = "Domain starts with dot"                             # "bob@.x.com"
DOMAIN_ENDS_WITH_DOT = "Domain ends with dot"                                 # "bob@x.com."
DOMAIN_DOT_DOT = "Domain contains dot-dot"                                    # "bob@x..com"
EXTRA_ROUTE_ADDR = "Extra route-addr"                                         # "<a@x.com> <b@x.com>"

# -- raw message errors (InvalidParameterValue) ---------------------------------
DUPLICATE_HEADER = "Duplicate header '{}'."
ILLEGAL_HEADER = "Illegal header '{}'."
EMPTY_HEADER_NAME = "Empty header names are illegal."
MISSING_HEADER = "Missing required header '{}'."    # 'From' with no Source, 'To' with no recipients
EMPTY_MESSAGE = "Message is empty."                 # decided here
NO_HEADERS = "Message has no header fields."        # decided here

# "Amazon SES header fields": these can't appear more than once.
SINGLE_HEADERS = (
    "Accept-Language", "acceptLanguage", "Archived-At", "Auto-Submitted", "Bounces-to", "Comments",
    "Content-Alternative", "Content-Base", "Content-Class", "Content-Description",
    "Content-Disposition", "Content-Duration", "Content-ID", "Content-Language", "Content-Length",
    "Content-Location", "Content-MD5", "Content-Transfer-Encoding", "Content-Type", "Date",
    "Delivered-To", "Disposition-Notification-Options", "Disposition-Notification-To",
    "DKIM-Signature", "DomainKey-Signature", "Errors-To", "From", "Importance", "In-Reply-To",
    "Keywords", "List-Archive", "List-Help", "List-Id", "List-Owner", "List-Post",
    "List-Subscribe", "List-Unsubscribe", "List-Unsubscribe-Post", "Message-Context", "Message-ID",
    "MIME-Version", "Organization", "Original-From", "Original-Message-ID", "Original-Recipient",
    "Original-Subject", "Precedence", "Priority", "References", "Reply-To", "Return-Path",
    "Return-Receipt-To", "Sender", "Solicitation", "Sensitivity", "Subject", "Thread-Index",
    "Thread-Topic", "User-Agent", "VBR-Info",
)
_SINGLE = {h.lower(): h for h in SINGLE_HEADERS}


class MimeError(ValueError):
    """A message or address SES rejects; SES answers InvalidParameterValue."""

    code = "InvalidParameterValue"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


# -- addresses: JavaMail's InternetAddress(text, strict=true) --------------------

_SPECIALS_NO_DOT = '()<>,;:\\"[]@'


def parse_address(text: str) -> str:
    """The addr-spec of one address ("a@x.com", "Name <a@x.com>"), checked as
    SES checks Source and Destination addresses; MimeError otherwise."""
    addresses = _parse_list(text)
    if len(addresses) != 1:
        raise MimeError(ILLEGAL_ADDRESS)
    addr = addresses[0]
    if addr.endswith(";") and addr.find(":") > 0:
        # A group ("team: a@x.com;"): its members are checked as header addresses.
        _parse_list(re.sub(r"\r?\n(?=[ \t])", "", addr[addr.find(":") + 1:-1]))
    else:
        _check_address(addr, True, True)
    return addr


def address_ok(addr: str) -> bool:
    return address_problem(addr) is None


def address_problem(text: str) -> str | None:
    """SES's InvalidParameterValue message for an address, None if it is fine."""
    try:
        parse_address(text)
    except MimeError as e:
        return e.message
    return None


def bare(text: str) -> str:
    """The addr-spec of an address, leniently (never raises): for identities
    and event records, after the address was checked or where it wasn't."""
    try:
        return parse_address(text)
    except MimeError:
        angled = re.search(r"<([^<>]*)>\s*\Z", text)
        return angled.group(1).strip() if angled else (parseaddr(text)[1] or text.strip())


def _parse_list(s: str) -> list[str]:
    """The addresses of a comma-separated list (JavaMail's strict parse)."""
    out: list[str] = []
    start = end = -1
    in_group = route_addr = False
    n, i = len(s), 0
    while i < n:
        c = s[i]
        if c == "(":    # a comment
            if start >= 0 and end == -1:
                end = i
            nesting, i = 1, i + 1
            while i < n and nesting > 0:
                c = s[i]
                if c == "\\":
                    i += 1
                elif c == "(":
                    nesting += 1
                elif c == ")":
                    nesting -= 1
                i += 1
            if nesting > 0:
                raise MimeError("Missing ')'")
            i -= 1
        elif c == ")":
            raise MimeError("Missing '('")
        elif c == "<":
            if route_addr:
                raise MimeError(EXTRA_ROUTE_ADDR)
            rindex, inquote, i = i, False, i + 1
            while i < n:
                c = s[i]
                if c == "\\":
                    i += 1
                elif c == '"':
                    inquote = not inquote
                elif c == ">" and not inquote:
                    break
                i += 1
            if inquote:
                raise MimeError("Missing '\"'")
            if i >= n:
                raise MimeError("Missing '>'")
            if not in_group:
                start = rindex + 1
            route_addr, end = True, i
        elif c == ">":
            raise MimeError("Missing '<'")
        elif c in '"[':
            close = '"' if c == '"' else "]"
            if start == -1:
                start = i
            i += 1
            while i < n and s[i] != close:
                i += 2 if s[i] == "\\" else 1
            if i >= n:
                raise MimeError(f"Missing '{close}'")
        elif c == ";":
            if start == -1:
                route_addr, start, end = False, -1, -1
            elif in_group:
                in_group = False
                out.append(s[start:i + 1].strip())
                route_addr, start, end = False, -1, -1
            else:
                raise MimeError("Illegal semicolon, not in group")
        elif c == ",":
            if start == -1:
                route_addr, start, end = False, -1, -1
            elif in_group:
                route_addr = False
            else:
                addr = s[start:i if end == -1 else end].strip()
                _check_address(addr, route_addr, False)
                out.append(addr)
                route_addr, start, end = False, -1, -1
        elif c == ":":
            if in_group:
                raise MimeError("Nested group")
            if start == -1:
                start = i
            in_group = True
        elif c not in " \t\r\n" and start == -1:
            start = i
        i += 1
    if start >= 0:
        addr = s[start:n if end == -1 else end].strip()
        _check_address(addr, route_addr, False)
        out.append(addr)
    return out


def _check_address(addr: str, route_addr: bool, validate: bool) -> None:
    """JavaMail's checkAddress: local part, then domain (validate: @ required)."""
    n = len(addr)
    if n == 0:
        raise MimeError(EMPTY_ADDRESS)
    start = 0
    if route_addr and addr[0] == "@":
        # A source route, "@a.com,@b.com:bob@c.com".
        while (i := _index_of_any(addr, ",:", start)) >= 0:
            if start >= n or addr[start] != "@":
                raise MimeError("Illegal route-addr")
            start = i + 1
            if addr[i] == ":":
                break
    c = lastc = ""
    inquote = False
    i = start
    while i < n:
        lastc, c = c, addr[i]
        i += 1
        if c == "\\" or lastc == "\\":
            continue
        if c == '"':
            if inquote:
                if validate and i < n and addr[i] != "@":
                    raise MimeError("Quote not at end of local address")
                inquote = False
            else:
                if validate and i - 1 != 0:
                    raise MimeError("Quote not at start of local address")
                inquote = True
            continue
        if c == "\r" and i < n and addr[i] != "\n":
            raise MimeError("Quoted local address contains CR without LF")
        if c == "\n" and i < n and addr[i] not in " \t":
            raise MimeError("Quoted local address contains newline without whitespace")
        if c == ".":
            if i - 1 == start:
                raise MimeError(LOCAL_STARTS_WITH_DOT)
            if lastc == ".":
                raise MimeError(LOCAL_DOT_DOT)
        if inquote:
            continue
        if c == "@":
            if i - 1 == 0:
                raise MimeError(MISSING_LOCAL_NAME)
            if lastc == ".":
                raise MimeError(LOCAL_ENDS_WITH_DOT)
            break
        if ord(c) <= 32 or ord(c) == 127:
            raise MimeError(LOCAL_CONTROL_OR_WHITESPACE)
        if c in _SPECIALS_NO_DOT:
            raise MimeError(LOCAL_ILLEGAL_CHARACTER)
    if inquote:
        raise MimeError("Unterminated quote")
    if c != "@":
        if validate:
            raise MimeError(MISSING_FINAL_DOMAIN)
        return
    if i >= n:
        raise MimeError(MISSING_DOMAIN)
    if addr[i] == ".":
        raise MimeError(DOMAIN_STARTS_WITH_DOT)
    first = i
    inliteral = False
    for j in range(first, n):
        c = addr[j]
        if c == "[":
            if j != first:
                raise MimeError("Domain literal not at start of domain")
            inliteral = True
        elif c == "]":
            if j != n - 1:
                raise MimeError("Domain literal end not at end of domain")
            inliteral = False
        elif ord(c) <= 32 or ord(c) == 127:
            raise MimeError(DOMAIN_CONTROL_OR_WHITESPACE)
        elif not inliteral:
            # Java's Character.isLetterOrDigit: letters and decimal digits.
            if not (c.isalpha() or c.isdecimal() or c in "-."):
                raise MimeError(DOMAIN_ILLEGAL_CHARACTER)
            if c == "." and lastc == ".":
                raise MimeError(DOMAIN_DOT_DOT)
        lastc = c
    if lastc == ".":
        raise MimeError(DOMAIN_ENDS_WITH_DOT)


def _index_of_any(s: str, chars: str, start: int) -> int:
    for i in range(start, len(s)):
        if s[i] in chars:
            return i
    return -1


# -- SendEmail: building the message ---------------------------------------------

_SMTP_COMPAT = policy.compat32.clone(linesep="\r\n")


def _one_line(value: str) -> str:
    return re.sub(r"\r\n|\r|\n", " ", value)


def _format_address(text: str, charset: str) -> str:
    name, addr = parseaddr(text)
    if not addr:
        return _one_line(text)
    # Non-ASCII display names become RFC 2047 encoded words, as SES requires.
    return formataddr((_one_line(name), addr), charset=charset)


def _address_list(addresses: Iterable[str] | str | None, charset: str) -> str | None:
    if not addresses:
        return None
    if isinstance(addresses, str):
        addresses = [addresses]
    return ", ".join(_format_address(a, charset) for a in addresses)


def _header_value(value: str, charset: str) -> str | Header:
    value = _one_line(value)
    return value if value.isascii() else Header(value, charset)


def _text_part(body: str, subtype: str, charset: str, part: Message | None = None) -> Message:
    body = body.replace("\r\n", "\n").replace("\r", "\n")
    try:
        data = body.encode(charset)
    except LookupError:
        raise MimeError(f"Unknown charset '{charset}'.") from None
    except UnicodeEncodeError:
        raise MimeError(f"The text cannot be encoded in charset '{charset}'.") from None
    non_ascii = sum(b > 127 for b in data)
    long_lines = any(len(line) > 998 for line in data.split(b"\n"))
    part = Message() if part is None else part
    part["Content-Type"] = f"text/{subtype}; charset={charset}"
    if not non_ascii and not long_lines:
        cte, payload = "7bit", body
    elif non_ascii < len(data) - non_ascii:
        cte, payload = "quoted-printable", quopri.encodestring(data).decode("ascii")
    else:
        cte, payload = "base64", base64.encodebytes(data).decode("ascii").rstrip("\n")
    part["Content-Transfer-Encoding"] = cte
    part.set_payload(payload)
    return part


def _message_id(message_id: str | None) -> str:
    if message_id is None:
        return make_msgid(domain=MESSAGE_ID_DOMAIN)
    if message_id.startswith("<"):
        return message_id
    return f"<{message_id}>" if "@" in message_id else f"<{message_id}@{MESSAGE_ID_DOMAIN}>"


def _extra_headers(headers: Mapping[str, str] | Iterable | None) -> list[tuple[str, str]]:
    if not headers:
        return []
    if isinstance(headers, Mapping):
        return list(headers.items())
    # v2 SendEmail's Headers: [{"Name": ..., "Value": ...}], or (name, value) pairs.
    return [(h["Name"], h["Value"]) if isinstance(h, Mapping) else tuple(h) for h in headers]


def build_message(source: str | None, to: Iterable[str] | None, cc: Iterable[str] | None,
                  bcc: Iterable[str] | None, subject: str | None, text: str | None,
                  html: str | None, reply_to: Iterable[str] | None = None,
                  headers: Mapping[str, str] | Iterable | None = None,
                  message_id: str | None = None, date: datetime | float | str | None = None,
                  charset: str = "UTF-8", *, boundary: str | None = None) -> bytes:
    """The RFC 5322 message SES sends for SendEmail, CRLF line endings.

    multipart/alternative (text, then HTML) when both bodies are given, else
    one text/plain or text/html part (an empty text/plain with neither).
    Header order is JavaMail's: Date, From, Reply-To, To, Cc, Message-ID,
    Subject, then `headers`, MIME-Version, Content-Type. Bcc is never
    written, nor From when source is None (TestRenderTemplate's output has
    none). message_id: SES's MessageId ("<...@...>" kept as is, an id with
    no @ gets @email.amazonses.com); a fresh one when None. date: a
    datetime (naive means UTC), epoch seconds, or a header string; now when
    None. charset: the Charset of the Subject and Body contents.
    """
    del bcc  # the envelope's business, never a header
    if date is None:
        date = datetime.now(UTC)
    elif isinstance(date, (int, float)):
        date = datetime.fromtimestamp(date, UTC)   # cloudlet's clocks give epoch seconds
    if isinstance(date, datetime):
        date = format_datetime(date if date.tzinfo else date.replace(tzinfo=UTC))
    fields: list[tuple[str, str | Header | None]] = [
        ("Date", date),
        ("From", None if source is None else _format_address(source, charset)),
        ("Reply-To", _address_list(reply_to, charset)),
        ("To", _address_list(to, charset)),
        ("Cc", _address_list(cc, charset)),
        ("Message-ID", _message_id(message_id)),
        ("Subject", None if subject is None else _header_value(subject, charset)),
    ]
    fields += [(name, _header_value(value, charset)) for name, value in _extra_headers(headers)]
    fields.append(("MIME-Version", "1.0"))
    msg = Message()
    for name, value in fields:
        if value is not None:
            msg[name] = value
    if text is not None and html is not None:
        msg["Content-Type"] = "multipart/alternative"
        if boundary:
            msg.set_boundary(boundary)
        msg.attach(_text_part(text, "plain", charset))
        msg.attach(_text_part(html, "html", charset))
    elif html is not None:
        _text_part(html, "html", charset, msg)
    else:
        _text_part(text or "", "plain", charset, msg)
    out = io.BytesIO()
    BytesGenerator(out, mangle_from_=False, policy=_SMTP_COMPAT).flatten(msg)
    return out.getvalue()


# -- SendRawEmail: reading the message ---------------------------------------------


_HEADER_END = re.compile(rb"(?:\A|\n)\r?\n")


def _header_names(data: bytes) -> list[str]:
    """The names of the top-level header fields, checked as SES checks them."""
    names: list[str] = []
    end = _HEADER_END.search(data)
    for raw in re.split(rb"\r?\n", data[:end.start()] if end else data):
        line = raw.rstrip(b"\r").decode("utf-8", "surrogateescape")
        if not line:
            continue
        if line[0] in " \t":
            if names:
                continue      # a folded continuation
            line = line.strip()   # JavaMail takes a leading folded line as a header line
        name = line.split(":", 1)[0].strip()
        if not name:
            raise MimeError(EMPTY_HEADER_NAME)
        if ":" not in line or any(not 33 <= ord(ch) <= 126 for ch in name):
            raise MimeError(ILLEGAL_HEADER.format(name))
        names.append(name)
    return names


def _decode(raw: str) -> str:
    """A header value unfolded, its encoded words decoded, otherwise as written."""
    value = re.sub(r"\r?\n(?=[ \t])", "", raw)
    value = value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    try:
        return str(make_header(decode_header(value)))
    except (LookupError, UnicodeError, ValueError):
        return value


def _text(part: Message) -> str:
    try:
        return part.get_content()
    except (LookupError, UnicodeError):
        payload = part.get_payload(decode=True) or b""
        return payload.decode("utf-8", "replace")


def _size(part: Message) -> int:
    if part.get_content_type() == "message/rfc822" and part.is_multipart():
        return len(part.get_payload(0).as_bytes(policy=policy.SMTP))
    payload = part.get_payload(decode=True)
    return len(payload) if isinstance(payload, bytes) else 0


def _leaves(part: Message) -> Iterable[Message]:
    if part.get_content_maintype() == "multipart" and part.is_multipart():
        for sub in part.get_payload():
            yield from _leaves(sub)
    else:
        yield part


def parse_raw(data: bytes) -> dict:
    """What SES reads from a SendRawEmail message.

    {"from": addr-spec or None, "to"/"cc"/"bcc": [addr-spec, ...],
     "subject": decoded str or None, "text"/"html": the first text/plain and
     text/html parts that are not attachments (decoded) or None,
     "attachments": [{"filename", "content_type", "size" (decoded bytes)}],
     "headers": {name: decoded value}, the first of each name, top level}.
    MimeError: an empty message or one without headers, a header line SES
    calls illegal, a repeated header that may appear only once. Whether From
    and To are required depends on Source and Destinations: the caller's
    check (MISSING_HEADER).
    """
    if not isinstance(data, (bytes, bytearray)) or not data.strip():
        raise MimeError(EMPTY_MESSAGE)
    data = bytes(data)
    names = _header_names(data)
    if not names:
        raise MimeError(NO_HEADERS)
    seen: set[str] = set()
    for name in names:
        key = name.lower()
        if key in _SINGLE:
            if key in seen:
                raise MimeError(DUPLICATE_HEADER.format(_SINGLE[key]))
            seen.add(key)
    msg = BytesParser(policy=policy.default).parsebytes(data)

    def addresses(name: str) -> list[str]:
        raw = [value for key, value in msg.raw_items() if key.lower() == name]
        return [addr for _, addr in getaddresses(raw) if addr]

    headers: dict[str, str] = {}
    lowered: set[str] = set()
    for name, raw in msg.raw_items():
        if name.lower() not in lowered:
            lowered.add(name.lower())
            headers[name] = _decode(str(raw))

    text = html = None
    attachments = []
    for part in _leaves(msg):
        ctype = part.get_content_type()
        filename = part.get_filename()
        inline_body = part.get_content_disposition() != "attachment" and filename is None
        if inline_body and ctype == "text/plain" and text is None:
            text = _text(part)
        elif inline_body and ctype == "text/html" and html is None:
            html = _text(part)
        else:
            attachments.append({"filename": filename, "content_type": ctype, "size": _size(part)})

    from_ = addresses("from")
    subject = next((_decode(str(v)) for k, v in msg.raw_items() if k.lower() == "subject"), None)
    return {
        "from": from_[0] if from_ else None,
        "to": addresses("to"), "cc": addresses("cc"), "bcc": addresses("bcc"),
        "subject": subject,
        "text": text, "html": html, "attachments": attachments, "headers": headers,
    }
