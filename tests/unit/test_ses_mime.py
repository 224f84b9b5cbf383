"""SES messages (cloudlet.services.ses.mime).

Address answers: the SES error texts quoted in issue threads (openstax/accounts
#253 tried these exact addresses against SES: "Karen, Chan <...>" is "Illegal
address", "<karen @...>" is "Local address contains control or whitespace";
anymail#281, cloud-custodian#8051: "Missing final '@domain'"; django-pony-
express#27: "someuser .xy@example.com"), the rest JavaMail's InternetAddress,
whose words SES answers with. Raw-message answers: "Duplicate header
'DKIM-Signature'." (aws-lambda-ses-forwarder#11), "Illegal header '...'."
(Swiftmailer-Transport--AWS-SES#13), "Empty header names are illegal."
(aws-sdk-js#4121).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cloudlet.services.ses.mime import (
    MAX_RAW_SIZE_V1,
    MAX_RAW_SIZE_V2,
    MAX_RAW_V1,
    MAX_RAW_V2,
    SINGLE_HEADERS,
    MimeError,
    address_ok,
    address_problem,
    bare,
    build_message,
    parse_address,
    parse_raw,
)

DATE = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_sizes():
    assert (MAX_RAW_SIZE_V1, MAX_RAW_SIZE_V2) == (MAX_RAW_V1, MAX_RAW_V2) == (10_485_760, 41_943_040)
    assert len(SINGLE_HEADERS) == 60 and "Delivered-To" in SINGLE_HEADERS


# -- build_message ---------------------------------------------------------------

BUILT = [
    # text and HTML: multipart/alternative; Bcc never written
    ({"source": "Sender <sender@example.com>", "to": ["to@example.com", "Two <two@example.com>"],
          "cc": ["cc@example.com"], "bcc": ["hidden@example.com"], "subject": "Hello",
          "text": "Hi there\nsecond line", "html": "<p>Hi there</p>", "reply_to": ["reply@example.com"],
          "message_id": "0100018e-abc-000000", "date": DATE, "boundary": "BOUNDARY"},
     (b"Date: Tue, 02 Jan 2024 03:04:05 +0000\r\n"
     b"From: Sender <sender@example.com>\r\n"
     b"Reply-To: reply@example.com\r\n"
     b"To: to@example.com, Two <two@example.com>\r\n"
     b"Cc: cc@example.com\r\n"
     b"Message-ID: <0100018e-abc-000000@email.amazonses.com>\r\n"
     b"Subject: Hello\r\n"
     b"MIME-Version: 1.0\r\n"
     b'Content-Type: multipart/alternative; boundary="BOUNDARY"\r\n'
     b"\r\n"
     b"--BOUNDARY\r\n"
     b"Content-Type: text/plain; charset=UTF-8\r\n"
     b"Content-Transfer-Encoding: 7bit\r\n"
     b"\r\n"
     b"Hi there\r\nsecond line\r\n"
     b"--BOUNDARY\r\n"
     b"Content-Type: text/html; charset=UTF-8\r\n"
     b"Content-Transfer-Encoding: 7bit\r\n"
     b"\r\n"
     b"<p>Hi there</p>\r\n"
     b"--BOUNDARY--\r\n")),
    # HTML only: one part; an id with @ gets angle brackets
    ({"source": "sender@example.com", "to": ["to@example.com"], "cc": None, "bcc": None, "subject": "Hello",
          "text": None, "html": "<p>Hi</p>", "message_id": "m@example.com", "date": DATE},
     (b"Date: Tue, 02 Jan 2024 03:04:05 +0000\r\nFrom: sender@example.com\r\nTo: to@example.com\r\n"
     b"Message-ID: <m@example.com>\r\nSubject: Hello\r\nMIME-Version: 1.0\r\n"
     b"Content-Type: text/html; charset=UTF-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\n<p>Hi</p>")),
    # No body, no subject, no recipients in headers (all Bcc); a Date string kept as given
    ({"source": "sender@example.com", "to": [], "cc": [], "bcc": ["b@example.com"], "subject": None, "text": None,
          "html": None, "message_id": "<m@x>", "date": "Mon, 1 Jan 2024 00:00:00 +0000"},
     (b"Date: Mon, 1 Jan 2024 00:00:00 +0000\r\nFrom: sender@example.com\r\nMessage-ID: <m@x>\r\n"
     b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n"
     b"Content-Transfer-Encoding: 7bit\r\n\r\n")),
    # Non-ASCII: encoded words in headers; mostly-ASCII body quoted-printable, other base64
    ({"source": "Jörg <j@example.com>", "to": ["Zoë <z@example.com>"], "cc": None, "bcc": None,
          "subject": "Grüße", "text": "Grüße aus Köln", "html": "<p>日本語</p>", "message_id": "<m@x>",
          "date": DATE, "boundary": "B"},
     (b"Date: Tue, 02 Jan 2024 03:04:05 +0000\r\n"
     b"From: =?utf-8?b?SsO2cmc=?= <j@example.com>\r\n"
     b"To: =?utf-8?q?Zo=C3=AB?= <z@example.com>\r\n"
     b"Message-ID: <m@x>\r\n"
     b"Subject: =?utf-8?b?R3LDvMOfZQ==?=\r\n"
     b"MIME-Version: 1.0\r\n"
     b'Content-Type: multipart/alternative; boundary="B"\r\n\r\n'
     b"--B\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
     b"Gr=C3=BC=C3=9Fe aus K=C3=B6ln\r\n"
     b"--B\r\nContent-Type: text/html; charset=UTF-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
     b"PHA+5pel5pys6KqePC9wPg==\r\n"
     b"--B--\r\n")),
    # Another charset; extra headers (v2 Headers shape and pairs); newlines in a subject
    ({"source": "a@example.com", "to": ["b@example.com"], "cc": None, "bcc": None, "subject": "Olá\nmundo",
          "text": "café", "html": None, "message_id": "<m@x>", "date": DATE, "charset": "ISO-8859-1",
          "headers": [{"Name": "X-Campaign", "Value": "spring"}, ("List-Unsubscribe", "<https://u.example>")]},
     (b"Date: Tue, 02 Jan 2024 03:04:05 +0000\r\nFrom: a@example.com\r\nTo: b@example.com\r\n"
     b"Message-ID: <m@x>\r\nSubject: =?iso-8859-1?q?Ol=E1_mundo?=\r\nX-Campaign: spring\r\n"
     b"List-Unsubscribe: <https://u.example>\r\nMIME-Version: 1.0\r\n"
     b"Content-Type: text/plain; charset=ISO-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
     b"caf=E9")),
    # A naive date is UTC; CR, LF and CRLF all become CRLF
    ({"source": "a@example.com", "to": "b@example.com", "cc": None, "bcc": None, "subject": "Hi",
          "text": "one\r\ntwo\rthree\nfour", "html": None, "message_id": "<m@x>", "date": datetime(2024, 1, 2, 3, 4, 5),
          "headers": {"X-One": "1"}},
     (b"Date: Tue, 02 Jan 2024 03:04:05 +0000\r\nFrom: a@example.com\r\nTo: b@example.com\r\n"
     b"Message-ID: <m@x>\r\nSubject: Hi\r\nX-One: 1\r\nMIME-Version: 1.0\r\n"
     b"Content-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\n"
     b"one\r\ntwo\r\nthree\r\nfour")),
]


@pytest.mark.parametrize("kwargs, expected", BUILT)
def test_build_message(kwargs, expected):
    assert build_message(**kwargs) == expected


def test_build_message_defaults_and_long_lines():
    out = build_message("a@example.com", ["b@example.com"], None, None, "S", "x" * 1200, None)
    head, body = out.split(b"\r\n\r\n", 1)
    assert b"\r\nMessage-ID: <" in head and head.split(b"Message-ID: ")[1].split(b"\r\n")[0].endswith(
        b"@email.amazonses.com>")
    assert head.startswith(b"Date: ") and b"Content-Transfer-Encoding: quoted-printable" in head
    assert max(len(line) for line in body.split(b"\r\n")) == 76   # ASCII over 998 a line: QP
    assert parse_raw(out)["text"] == "x" * 1200


def test_build_message_rejects_text_outside_its_charset():
    with pytest.raises(MimeError, match="cannot be encoded in charset 'US-ASCII'"):
        build_message("a@x.com", ["b@x.com"], None, None, "S", "café", None, charset="US-ASCII")
    with pytest.raises(MimeError, match="Unknown charset 'no-such'"):
        build_message("a@x.com", ["b@x.com"], None, None, "S", "x", None, charset="no-such")


def test_round_trip():
    kwargs = BUILT[3][0]
    assert parse_raw(build_message(**kwargs)) == {
        "from": "j@example.com", "to": ["z@example.com"], "cc": [], "bcc": [],
        "subject": "Grüße", "text": "Grüße aus Köln", "html": "<p>日本語</p>", "attachments": [],
        "headers": {"Date": "Tue, 02 Jan 2024 03:04:05 +0000", "From": "Jörg <j@example.com>",
                    "To": "Zoë <z@example.com>", "Message-ID": "<m@x>", "Subject": "Grüße",
                    "MIME-Version": "1.0", "Content-Type": 'multipart/alternative; boundary="B"'},
    }


# -- parse_raw -------------------------------------------------------------------

RAW_MIXED = (
    b'From: "Doe, John" <john@example.com>\r\n'
    b"To: a@example.com, B <b@example.com>\r\n"
    b"To: c@example.com\r\n"
    b"Cc: team: d@example.com, e@example.com;\r\n"
    b"Bcc: undisclosed-recipients:;\r\n"
    b"Subject: =?utf-8?q?Caf=C3=A9?= report\r\n"
    b"X-Folded: one\r\n two\r\n"
    b"Received: first\r\n"
    b"Received: second\r\n"
    b'Content-Type: multipart/mixed; boundary="outer"\r\n'
    b"\r\n"
    b"--outer\r\n"
    b'Content-Type: multipart/alternative; boundary="inner"\r\n'
    b"\r\n"
    b"--inner\r\n"
    b"Content-Type: text/plain; charset=iso-8859-1\r\n"
    b"Content-Transfer-Encoding: quoted-printable\r\n"
    b"\r\n"
    b"Caf=E9 numbers\r\n"
    b"--inner\r\n"
    b"Content-Type: text/html; charset=UTF-8\r\n"
    b"\r\n"
    b"<p>Caf\xc3\xa9</p>\r\n"
    b"--inner--\r\n"
    b"--outer\r\n"
    b'Content-Type: text/csv; name="r.csv"\r\n'
    b'Content-Disposition: attachment; filename="r.csv"\r\n'
    b"Content-Transfer-Encoding: base64\r\n"
    b"\r\n"
    b"YSxiCjEsMgo=\r\n"
    b"--outer\r\n"
    b"Content-Type: text/plain\r\n"
    b"Content-Disposition: attachment\r\n"
    b"\r\n"
    b"notes\r\n"
    b"--outer\r\n"
    b"Content-Type: image/png\r\n"
    b"Content-ID: <logo>\r\n"
    b"Content-Disposition: inline; filename*=utf-8''l%C3%B6go.png\r\n"
    b"Content-Transfer-Encoding: base64\r\n"
    b"\r\n"
    b"iVBORw0KGgo=\r\n"
    b"--outer\r\n"
    b"Content-Type: message/rfc822\r\n"
    b"\r\n"
    b"Subject: inner\r\n"
    b"\r\n"
    b"hi\r\n"
    b"--outer--\r\n"
)


def test_parse_raw_multipart():
    assert parse_raw(RAW_MIXED) == {
        "from": "john@example.com",
        "to": ["a@example.com", "b@example.com", "c@example.com"],
        "cc": ["d@example.com", "e@example.com"],
        "bcc": [],
        "subject": "Café report",
        "text": "Café numbers",
        "html": "<p>Café</p>",
        "attachments": [
            {"filename": "r.csv", "content_type": "text/csv", "size": 8},
            {"filename": None, "content_type": "text/plain", "size": 5},
            {"filename": "lögo.png", "content_type": "image/png", "size": 8},
            {"filename": None, "content_type": "message/rfc822", "size": 20},
        ],
        "headers": {
            "From": '"Doe, John" <john@example.com>',
            "To": "a@example.com, B <b@example.com>",
            "Cc": "team: d@example.com, e@example.com;",
            "Bcc": "undisclosed-recipients:;",
            "Subject": "Café report",
            "X-Folded": "one two",
            "Received": "first",
            "Content-Type": 'multipart/mixed; boundary="outer"',
        },
    }


@pytest.mark.parametrize("raw, expected", [
    # No Content-Type: one text/plain part; LF line endings are fine
    (b"From: a@example.com\nSubject: plain\n\nline one\nline two\n",
     {"from": "a@example.com", "subject": "plain", "text": "line one\nline two\n", "html": None}),
    # Headers only, no blank line, no body
    (b"From: a@example.com\r\nTo: b@example.com",
     {"from": "a@example.com", "to": ["b@example.com"], "text": "", "subject": None}),
    # HTML only, base64
    ((b"From: a@example.com\r\nContent-Type: text/html; charset=utf-8\r\n"
     b"Content-Transfer-Encoding: base64\r\n\r\nPGI+aGk8L2I+\r\n"),
     {"text": None, "html": "<b>hi</b>", "attachments": []}),
    # Headers not in the list may repeat; "headers" keeps the first of a name, any case
    (b"X-Custom: 1\r\nX-Custom: 2\r\nReceived: a\r\nreceived: b\r\n\r\n",
     {"headers": {"X-Custom": "1", "Received": "a"}, "from": None}),
    # An unknown charset still gives text
    (b"From: a@example.com\r\nContent-Type: text/plain; charset=x-unknown\r\n\r\nabc",
     {"text": "abc"}),
])
def test_parse_raw_simple(raw, expected):
    got = parse_raw(raw)
    assert {k: got[k] for k in expected} == expected


@pytest.mark.parametrize("raw, message", [
    (b"", "Message is empty."),
    (b"  \r\n", "Message is empty."),
    (b"\r\nbody with no headers", "Message has no header fields."),
    (b"hello world\r\n\r\nbody", "Illegal header 'hello world'."),
    (b'<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN" "http://www.w3.org/TR/x.dtd">\r\n',
     "Illegal header '<!DOCTYPE html PUBLIC \"-//W3C//DTD XHTML 1.0 Transitional//EN\" \"http'."),
    (b"From: a@example.com\r\nnocolon\r\n\r\n", "Illegal header 'nocolon'."),
    (b"From: a@example.com\r\n: value\r\n\r\n", "Empty header names are illegal."),
    (b"From: a@example.com\r\nDKIM-Signature: a\r\nDKIM-Signature: b\r\n\r\n",
     "Duplicate header 'DKIM-Signature'."),
    (b"Message-Id: <a@x>\r\nMESSAGE-ID: <b@x>\r\n\r\n", "Duplicate header 'Message-ID'."),
    (b"MIME-Version: 1.0\r\nFrom: a@example.com\r\nMIME-Version: 1.0\r\n\r\n", "Duplicate header 'MIME-Version'."),
])
def test_parse_raw_errors(raw, message):
    with pytest.raises(MimeError) as e:
        parse_raw(raw)
    assert (e.value.code, e.value.message) == ("InvalidParameterValue", message)


def test_duplicates_are_top_level_only():
    raw = (b'From: a@example.com\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n'
           b"--b\r\nContent-Type: text/plain\r\n\r\none\r\n--b\r\nContent-Type: text/plain\r\n\r\ntwo\r\n--b--\r\n")
    got = parse_raw(raw)
    assert (got["text"], got["attachments"]) == ("one", [{"filename": None, "content_type": "text/plain",
                                                          "size": 3}])


# -- addresses -------------------------------------------------------------------

VALID = [
    ("bob@example.com", "bob@example.com"),
    ("Bob Smith <bob@example.com>", "bob@example.com"),
    ('"Karen, Chan" <karen@e-mail-tester.appspotmail.com>', "karen@e-mail-tester.appspotmail.com"),
    ("=?utf-8?b?SsO2cmc=?= <j@example.com>", "j@example.com"),
    ("  bob@example.com  ", "bob@example.com"),
    ("bob@example.com (Bob)", "bob@example.com"),
    ("first.last+tag@sub.example.co.uk", "first.last+tag@sub.example.co.uk"),
    ('"john doe"@example.com', '"john doe"@example.com'),
    ("bob@[192.0.2.1]", "bob@[192.0.2.1]"),
    ("bob@münchen.de", "bob@münchen.de"),
    ("<@relay.example.com:bob@example.com>", "@relay.example.com:bob@example.com"),
    ("team: a@example.com, b@example.com;", "team: a@example.com, b@example.com;"),
]

INVALID = [
    ("BigRedd", "Missing final '@domain'"),
    ("Bob <bob>", "Missing final '@domain'"),
    ("Karen, Chan <karen@e-mail-tester.appspotmail.com>", "Illegal address"),
    ("a@example.com, b@example.com", "Illegal address"),
    ("", "Illegal address"),
    ("   ", "Illegal address"),
    ('"Karen, Chan" <karen @e-mail-tester.appspotmail.com>', "Local address contains control or whitespace"),
    ("Karen Chan <karen @e-mail-tester.appspotmail.com>", "Local address contains control or whitespace"),
    ("someuser .xy@example.com", "Local address contains control or whitespace"),
    ("bob\x01@example.com", "Local address contains control or whitespace"),
    ("Bob <bo,b@example.com>", "Local address contains illegal character"),
    (".bob@example.com", "Local address starts with dot"),
    ("bob.@example.com", "Local address ends with dot"),
    ("bo..b@example.com", "Local address contains dot-dot"),
    ("@example.com", "Missing local name"),
    ("bob@", "Missing domain"),
    ("Name <>", "Empty address"),
    ("bob@exa_mple.com", "Domain contains illegal character"),
    ("bob@example.com;", "Illegal semicolon, not in group"),
    ("Bob <bob@ex ample.com>", "Domain contains control or whitespace"),
    ("bob@.example.com", "Domain starts with dot"),
    ("bob@example.com.", "Domain ends with dot"),
    ("bob@example..com", "Domain contains dot-dot"),
    ("<a@example.com> <b@example.com>", "Extra route-addr"),
    ("Bob <bob@example.com", "Missing '>'"),
    ("bob@example.com>", "Missing '<'"),
    ('"Bob <bob@example.com>', "Missing '\"'"),
    ("Bob (comment <bob@example.com>", "Missing ')'"),
    ("team: a@example.com, x y@example.com;", "Local address contains control or whitespace"),
    ("a: b: c@example.com;;", "Nested group"),
]


@pytest.mark.parametrize("text, addr", VALID)
def test_parse_address(text, addr):
    assert parse_address(text) == addr
    assert address_ok(text)


@pytest.mark.parametrize("text, message", INVALID)
def test_parse_address_errors(text, message):
    with pytest.raises(MimeError) as e:
        parse_address(text)
    assert e.value.message == message
    assert not address_ok(text)


def test_date_as_epoch_seconds():
    out = build_message("a@x.com", ["b@x.com"], None, None, "S", "t", None, message_id="<m@x>",
                        date=DATE.timestamp() + 0.75)
    assert out.startswith(b"Date: Tue, 02 Jan 2024 03:04:05 +0000\r\n")


def test_no_source_no_from():
    # TestRenderTemplate shows the rendered message without a sender.
    assert build_message(None, [], [], [], "Hi", "text", None, message_id="<m@x>", date=DATE) == (
        b"Date: Tue, 02 Jan 2024 03:04:05 +0000\r\nMessage-ID: <m@x>\r\nSubject: Hi\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\ntext")


@pytest.mark.parametrize("text, problem", [
    ("bob@example.com", None),
    ("BigRedd", "Missing final '@domain'"),
    ("Karen, Chan <k@example.com>", "Illegal address"),
])
def test_address_problem(text, problem):
    assert address_problem(text) == problem


@pytest.mark.parametrize("text, addr", [
    ("Bob <bob@example.com>", "bob@example.com"),
    ("bob@example.com", "bob@example.com"),
    ("Karen, Chan <k@example.com>", "k@example.com"),   # not valid for SES, still readable
    ("  no-at-sign ", "no-at-sign"),
    ("", ""),
])
def test_bare(text, addr):
    assert bare(text) == addr
