"""Real mail as mature readers read it (issue 26, items 1-3): broken header sections, several
From headers, unquoted boundaries holding `=`."""

import pytest

from app.services.intake.parsing import MalformedEmail, NoSender, from_mailgun, from_mime
from app.services.intake.parsing.deliveries import glimpse_subject
from app.services.intake.parsing.model import MAX_MIME_DEPTH, MAX_MIME_PARTS
from app.services.intake.parsing.tolerant import repair_header_section

BODY = b"\r\nIl sito non risponde.\r\n"


# --- 1. a broken line in the header section -----------------------------------------------


@pytest.mark.parametrize(
    ("raw", "subject"),
    [
        pytest.param(
            b"Received: from mx.rossi.it\r\n by mx.agency.example\r\n"
            b"Subject: Richiesta di\r\nassistenza URGENTE\r\n"  # a fold that lost its space
            b"From: Mario Rossi <mario@rossi.it>\r\n" + BODY,
            "Richiesta di assistenza URGENTE",
            id="folded-line-without-its-space",
        ),
        pytest.param(
            b"Subject: Sito lento\r\nthis line is no header at all\r\n"
            b"From: Mario Rossi <mario@rossi.it>\r\n" + BODY,
            "Sito lento this line is no header at all",
            id="stray-line-among-headers",
        ),
        pytest.param(
            b"---- Original email message ----\r\n"
            b"From: Mario Rossi <mario@rossi.it>\r\nSubject: Sito lento\r\n" + BODY,
            "Sito lento",
            id="a-line-before-the-headers",
        ),
        pytest.param(
            b"From mario@rossi.it Mon Nov 23 16:00:00 2026\n"  # an mbox separator, LF only
            b"From: Mario Rossi <mario@rossi.it>\nSubject: Sito lento\n\nIl sito.\n",
            "Sito lento",
            id="mbox-separator-line",
        ),
    ],
)
def test_a_broken_header_line_does_not_hide_the_sender(raw: bytes, subject: str) -> None:
    email = from_mime(raw)

    assert email.from_email == "mario@rossi.it"
    assert email.from_name == "Mario Rossi"
    assert email.subject == subject
    assert email.text.startswith("Il sito")
    assert email.sender_source is None  # the first From


def test_the_repair_keeps_the_body_byte_for_byte_and_leaves_good_mail_alone() -> None:
    body = b"\r\nriga 1\r\nNot: a header\r\n\r\nriga 3 \xe8\r\n"
    broken = b"Subject: a\r\nstray\r\nFrom: m@rossi.it\r\n" + body

    assert repair_header_section(broken) == b"Subject: a\r\n stray\r\nFrom: m@rossi.it\r\n" + body
    good = b"From: m@rossi.it\r\nSubject: a\r\n b\r\n" + body
    assert repair_header_section(good) is good
    no_separator = b"From: m@rossi.it\r\nSubject: a\r\nbody straight after the headers\r\n"
    assert repair_header_section(no_separator) is no_separator
    assert from_mime(no_separator).text == "body straight after the headers"


def test_a_line_of_spaces_where_the_blank_line_belongs_ends_the_headers() -> None:
    """KMime's bug 392239: the first delimiter, after a line holding one space, used to be
    folded into the Subject, and the part's headers read as the message's."""
    raw = (
        b'From: Mario Rossi <mario@rossi.it>\r\nContent-Type: multipart/mixed; boundary="b"\r\n'
        b"Subject: \r\n \r\n--b\r\nContent-Type: text/plain; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\nSWwgc2l0byDDqCBsZW50by4=\r\n--b--\r\n"
    )

    email = from_mime(raw)

    assert (email.from_email, email.subject) == ("mario@rossi.it", "")
    assert email.text == "Il sito è lento."
    assert email.attachments == ()


def test_a_line_of_spaces_among_the_fields_is_an_empty_continuation() -> None:
    """As every reader reads it: the fields below it are still headers."""
    email = from_mime(b"Subject: Sito\r\n \r\nFrom: Mario <mario@rossi.it>\r\n" + BODY)

    assert (email.from_email, email.subject, email.text) == (
        "mario@rossi.it",
        "Sito",
        "Il sito non risponde.",
    )


@pytest.mark.parametrize("indent", [b" ", b"\t  "])
def test_a_first_header_indented_by_mistake_still_names_the_sender(indent: bytes) -> None:
    """enmime's bad-header-start: the parser read it as the continuation of nothing and the
    delivery was quarantined for want of a sender."""
    email = from_mime(indent + b"From: Mario Rossi <mario@rossi.it>\r\nSubject: Sito\r\n" + BODY)

    assert (email.from_email, email.from_name, email.subject) == (
        "mario@rossi.it",
        "Mario Rossi",
        "Sito",
    )
    assert email.text == "Il sito non risponde."


@pytest.mark.parametrize(
    ("headers", "sender", "source"),
    [
        (b"From: undisclosed\r\nSender: Anna <anna@rossi.it>\r\n", "anna@rossi.it", "sender"),
        (
            b"From: <>\r\nReply-To: b@rossi.it\r\nReturn-Path: <c@rossi.it>\r\n",
            "b@rossi.it",
            "reply_to",
        ),
        (b"Return-Path: <c@rossi.it>\r\nFrom: nessuno\r\n", "c@rossi.it", "return_path"),
        (
            b"From: x\r\nReturn-Path: <c@rossi.it>\r\nReply-To: b@rossi.it\r\n"
            b"Sender: a@rossi.it\r\n",
            "a@rossi.it",
            "sender",
        ),  # the order is Sender, Reply-To, Return-Path, wherever each stands
    ],
)
def test_an_unusable_from_falls_back_in_order(headers: bytes, sender: str, source: str) -> None:
    email = from_mime(headers + b"Subject: s\r\n" + BODY)

    assert (email.from_email, email.sender_source) == (sender, source)


def test_after_a_broken_line_a_later_header_gives_the_sender() -> None:
    raw = (
        b"---- Original email message ----\r\nFrom: Servizio clienti\r\n"
        b"Subject: Ordine\r\nstray text\r\nReply-To: Anna <anna@rossi.it>\r\n" + BODY
    )

    email = from_mime(raw)

    assert (email.from_email, email.from_name, email.sender_source) == (
        "anna@rossi.it",
        "Anna",
        "reply_to",
    )


def test_nobody_anywhere_is_no_sender() -> None:
    with pytest.raises(NoSender):
        from_mime(b"From: nessuno\r\nReply-To: neanche\r\nSubject: s\r\n" + BODY)


# --- 2. several From headers ----------------------------------------------------------------


def test_several_from_headers_the_first_usable_one_wins() -> None:
    raw = (
        b"From: undisclosed-recipients:;\r\nFrom: =?utf-8?q?Nicol=C3=B2?= <nicolo@rossi.it>\r\n"
        b"From: other@rossi.it\r\nSubject: s\r\n" + BODY
    )

    email = from_mime(raw)

    assert (email.from_email, email.from_name, email.sender_source) == (
        "nicolo@rossi.it",
        "Nicolò",
        "from",
    )


def test_mailgun_parsed_fields_with_several_from_headers() -> None:
    fields = {
        "message-headers": '[["From", "nobody"], ["From", "Anna <anna@rossi.it>"], '
        '["Subject", "Sito"]]',
        "from": "nobody",
        "body-plain": "testo",
    }

    email = from_mailgun(fields)

    assert (email.from_email, email.sender_source) == ("anna@rossi.it", "from")


# --- 3. an unquoted boundary holding "=" ----------------------------------------------------

BOUNDARY = b"----=_NextPart_000_0012_01C0A1B2.3C4D5E60"


def outlook_express(boundary_param: bytes = b"boundary=" + BOUNDARY) -> bytes:
    return (
        b"From: Mario <mario@rossi.it>\r\nSubject: x\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: multipart/alternative;\r\n\t" + boundary_param + b"\r\n\r\n"
        b"This is a multi-part message in MIME format.\r\n\r\n"
        b"--" + BOUNDARY + b'\r\nContent-Type: text/plain;\r\n\tcharset="iso-8859-1"\r\n'
        b"Content-Transfer-Encoding: quoted-printable\r\n\r\nIl sito =E8 lento.\r\n\r\n"
        b"--" + BOUNDARY + b'\r\nContent-Type: text/html;\r\n\tcharset="iso-8859-1"\r\n\r\n'
        b"<p>Il sito \xe8 <b>lento</b>.</p>\r\n\r\n"
        b"--" + BOUNDARY + b"--\r\n"
    )


@pytest.mark.parametrize(
    "param",
    [
        b"boundary=" + BOUNDARY,
        b'boundary="' + BOUNDARY + b'"',
        b"BOUNDARY = " + BOUNDARY + b"; reply-type=original",
    ],
)
def test_an_unquoted_boundary_with_equals_keeps_text_and_html(param: bytes) -> None:
    email = from_mime(outlook_express(param))

    assert email.text == "Il sito è lento."
    assert email.html == "<p>Il sito è <b>lento</b>.</p>"
    assert email.attachments == ()


def test_a_multipart_whose_boundary_never_comes_is_shown_as_text() -> None:
    raw = (
        b"From: m@rossi.it\r\nContent-Type: multipart/mixed; boundary=missing\r\n\r\n"
        b"Il testo senza parti.\r\n"
    )

    email = from_mime(raw)

    assert email.text == "Il testo senza parti."
    assert email.attachments == ()


# --- a multipart nested in one with the same boundary ---------------------------------------


def reused(boundary: bytes, *parts: bytes) -> bytes:
    """Outlook Express for Mac's shape (cpython msg_15): the alternative reuses the boundary
    of the mixed part holding it; `parts` follow it, each a part or b"--" (a close delimiter)."""
    lines = [
        b"From: Mario <mario@rossi.it>\r\nSubject: Foto\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="' + boundary + b'"\r\n\r\npreambolo\r\n',
        b"--" + boundary + b'\r\nContent-Type: multipart/alternative; boundary="' + boundary,
        b'"\r\n\r\n',
        b"--" + boundary + b"\r\nContent-Type: text/plain\r\n\r\nEcco la foto.\r\n",
        b"--" + boundary + b"\r\nContent-Type: text/html\r\n\r\n<p>Ecco la foto.</p>\r\n",
    ]
    for part in parts:
        delimiter = b"--" + boundary
        lines.append(delimiter + b"--\r\n" if part == b"--" else delimiter + b"\r\n" + part)
    return b"".join(lines)


def attachment(name: bytes) -> bytes:
    return (
        b'Content-Type: image/gif; name="' + name + b'"\r\nContent-Disposition: attachment\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\nR0lGODlh\r\n"
    )


@pytest.mark.parametrize(
    "parts",
    [
        pytest.param((b"--", attachment(b"a.gif"), b"--"), id="one-file-after"),
        pytest.param(
            (b"--", attachment(b"a.gif"), attachment(b"b.gif"), b"--", b"epilogo\r\n"),
            id="two-files-and-an-epilogue",
        ),
    ],
)
def test_a_multipart_reusing_its_parents_boundary_keeps_the_files_after_it(parts) -> None:
    """Readers match a delimiter against the innermost multipart first: the alternative holds
    text and html up to its close delimiter, then the mixed part's files follow. The standard
    library's parser lost every file after it in the epilogue."""
    email = from_mime(reused(b"MS_Mac_OE_3071477847_720252_MIME_Part", *parts))

    assert email.text == "Ecco la foto."
    assert email.html == "<p>Ecco la foto.</p>"
    files = [part for part in parts if part.startswith(b"Content-Type")]
    assert [a.filename for a in email.attachments] == [f"{n}.gif" for n in "ab"][: len(files)]
    assert all(a.data == b"GIF89a" for a in email.attachments)


def test_a_reused_boundary_never_closed_keeps_what_it_holds() -> None:
    email = from_mime(reused(b"b", attachment(b"a.gif")))

    assert email.text == "Ecco la foto."
    assert [a.filename for a in email.attachments] == ["a.gif"]


# --- message/partial ------------------------------------------------------------------------

FIRST_FRAGMENT = (
    b"From: Anna <anna@rossi.it>\r\nSubject: Foto\r\n"
    b'Content-Type: multipart/mixed; boundary="cut"\r\n\r\n--cut\r\n'
    b"Content-Type: image/jpeg\r\nContent-Transfer-Encoding: base64\r\n\r\n/9j/4AAQSkZJRg"
)  # a message cut anywhere: its multipart never closes here


def test_a_message_partial_is_kept_as_a_file_byte_for_byte() -> None:
    """gmime's photo-discuss fragments: the parser read the fragment as a message, so the
    fragment's file was lost or, written back, closed the cut multipart: it could not be
    reassembled."""
    raw = (
        b"From: Mario <mario@rossi.it>\r\nSubject: Foto (1/3)\r\n"
        b'Content-Type: message/partial; id="f@rossi.it"; number=1; total=3\r\n\r\n'
        + FIRST_FRAGMENT
    )

    email = from_mime(raw)

    assert (email.from_email, email.subject, email.text) == ("mario@rossi.it", "Foto (1/3)", "")
    [fragment] = email.attachments
    assert (fragment.content_type, fragment.data) == ("message/partial", FIRST_FRAGMENT)


def test_a_message_partial_inside_a_multipart_keeps_the_text_beside_it() -> None:
    raw = (
        b'From: Mario <mario@rossi.it>\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain\r\n\r\nEcco il primo pezzo.\r\n--b\r\n"
        b"Content-Type: message/partial; id=f; number=2; total=2\r\n\r\nRg4AAQSkZJ\r\n--b--\r\n"
    )

    email = from_mime(raw)

    assert email.text == "Ecco il primo pezzo."
    [fragment] = email.attachments
    assert (fragment.content_type, fragment.data) == ("message/partial", b"Rg4AAQSkZJ")


# --- a structure too costly to parse: refused before the parser sees it ----------------------

HEAD = b"From: Mario Rossi <mario@rossi.it>\r\nSubject: Schermate\r\n"


def flat(parts: int) -> bytes:
    """A multipart/mixed of `parts` small text parts."""
    body = b"".join(
        b"--zz\r\nContent-Type: text/plain\r\n\r\nparte %d\r\n" % i for i in range(parts)
    )
    return HEAD + b"Content-Type: multipart/mixed; boundary=zz\r\n\r\n" + body + b"--zz--\r\n"


def nested(depth: int) -> bytes:
    """Multiparts nested `depth` deep around one text part."""
    opening = b"".join(
        b'--b%d\r\nContent-Type: multipart/mixed; boundary="b%d"\r\n\r\n' % (i, i + 1)
        for i in range(depth - 1)
    )
    text = b"--b%d\r\nContent-Type: text/plain\r\n\r\nIl testo.\r\n" % (depth - 1)
    closing = b"".join(b"--b%d--\r\n" % i for i in reversed(range(depth)))
    return HEAD + b"Content-Type: multipart/mixed; boundary=b0\r\n\r\n" + opening + text + closing


def test_a_message_of_many_parts_is_refused_before_it_is_parsed() -> None:
    """7,000 empty parts took the parser 2.5 s (on the event loop for a 259 KB delivery)."""
    assert len(from_mime(flat(MAX_MIME_PARTS - 1)).attachments) == 0  # texts, all read
    with pytest.raises(MalformedEmail, match=f"more than {MAX_MIME_PARTS} MIME parts"):
        from_mime(flat(7000))


def test_parts_nested_too_deep_are_refused_before_they_are_parsed() -> None:
    assert "Il testo." in from_mime(nested(MAX_MIME_DEPTH)).text
    with pytest.raises(MalformedEmail, match=f"nested more than {MAX_MIME_DEPTH} deep"):
        from_mime(nested(MAX_MIME_DEPTH + 1))


def test_siblings_and_dashes_in_the_text_are_not_nesting() -> None:
    """Each of many forwarded messages nests two deep, side by side: never deeper than that;
    lines of dashes in a text and boundaries named nowhere are not parts."""
    forwarded = b"".join(
        b"--top\r\nContent-Type: multipart/alternative; boundary=alt%d\r\n\r\n"
        b"--alt%d\r\nContent-Type: text/plain\r\n\r\n-- \r\nMario\r\n--\r\n--nope\r\n"
        b"--alt%d--\r\n" % (i, i, i)
        for i in range(MAX_MIME_DEPTH * 2)
    )
    raw = HEAD + b"Content-Type: multipart/mixed; boundary=top\r\n\r\n" + forwarded + b"--top--\r\n"
    assert from_mime(raw).text.count("Mario") == MAX_MIME_DEPTH * 2  # every one read


def test_the_subject_of_what_cannot_be_read_is_read_from_its_header_section() -> None:
    """A quarantined URGENTE message still alerts staff at once (R12): its subject is read from
    the header section alone, whatever its body holds."""
    raw = flat(7000).replace(b"Subject: Schermate", "Subject: URGENTE è giù".encode())
    assert glimpse_subject("mime", raw, "message/rfc822") == "URGENTE è giù"
