"""Content helpers: HTML sanitising, quoted replies, filenames, auto-mail and ticket tags."""

import pytest

from app.services.intake.parsing import (
    detect_automatic,
    extract_ticket_tag,
    html_to_text,
    sanitize_filename,
    sanitize_html,
    strip_quoted_reply,
)


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        ("<p>ciao</p>", "<p>ciao</p>"),
        ("<script>alert(1)</script><p>x</p>", "<p>x</p>"),
        ("<style>p{color:red}</style><p>x</p>", "<p>x</p>"),
        ('<p onclick="steal()" style="color:red">x</p>', "<p>x</p>"),
        ('<img src="x.png" onerror="alert(1)">', "<img>"),
        ('<a href="javascript:alert(1)">x</a>', '<a rel="noopener noreferrer">x</a>'),
        ('<a href="JaVaScRiPt:alert(1)">x</a>', '<a rel="noopener noreferrer">x</a>'),
        ('<a href="/admin/delete">x</a>', '<a rel="noopener noreferrer">x</a>'),
        ('<a href="data:text/html,<b>">x</a>', '<a rel="noopener noreferrer">x</a>'),
        (
            '<a href="https://ok.example/" target="_top">x</a>',
            '<a href="https://ok.example/" rel="noopener noreferrer">x</a>',
        ),
        ('<img src="cid:logo@x" alt="logo">', '<img src="cid:logo@x" alt="logo">'),
        ("<iframe src='https://evil.example'></iframe>ok", "ok"),
        ("<form action='x'><input name='p'></form>ok", "ok"),
        ("<svg><script>alert(1)</script></svg>ok", "ok"),
        ("<!-- secret --><b>b</b>", "<b>b</b>"),
        ("<title>T</title><p>body</p>", "<p>body</p>"),
        ("", ""),
        ("x\ud800y\x00z", "x\ufffdyz"),
    ],
)
def test_sanitize_html(html: str, expected: str) -> None:
    assert sanitize_html(html) == expected


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        ("<p>uno</p><p>due</p>", "uno\n\ndue"),
        ("riga<br>riga<br/>riga", "riga\nriga\nriga"),
        ("<ul><li>a</li><li>b</li></ul>", "- a\n- b"),
        ("<head><title>T</title><style>x{}</style></head><body>corpo</body>", "corpo"),
        ("<script>var a = '<p>';</script>testo", "testo"),
        ("caff&egrave; &amp; &lt;tag&gt; &#8364;", "caffè & <tag> €"),
        ("<table><tr><td>a</td><td>b</td></tr><tr><td>c</td></tr></table>", "a b\nc"),
        ("   molti    spazi   ", "molti spazi"),
        ("<![if !supportLists]>x<![endif]>", "x"),
        ("<![unknown[ x]]> y", "y"),  # html.parser raises here; the fallback copes
        ("", ""),
    ],
)
def test_html_to_text(html: str, expected: str) -> None:
    assert html_to_text(html) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Solo testo nuovo.", "Solo testo nuovo."),
        (
            "Risposta.\n\nOn Mon, Nov 23, 2026 at 4:00 PM Mario <m@x.example> wrote:\n> vecchio",
            "Risposta.",
        ),
        (
            "Risposta.\n\nIl giorno lun 23 nov 2026 alle ore 16:00 Mario Rossi <\n"
            "m@x.example> ha scritto:\n\n> vecchio\n> testo",
            "Risposta.",
        ),
        ("Risposta.\n\nIl 23/11/2026 16:00, Mario Rossi ha scritto:\n> vecchio", "Risposta."),
        (
            "Risposta.\r\n\r\n-----Original Message-----\r\nFrom: A\r\nSent: ieri\r\n\r\nvecchio",
            "Risposta.",
        ),
        ("Risposta.\n\n-------- Messaggio originale --------\nDa: A\nvecchio", "Risposta."),
        (
            "Risposta.\n\nDa: Assistenza <a@s.example>\nInviato: lunedì 23 novembre 2026 16:00\n"
            "A: Mario\nOggetto: Re: x\n\nvecchio",
            "Risposta.",
        ),
        (
            "Risposta.\n\nFrom: Support <a@s.example>\nSent: Monday, November 23, 2026 4:00 PM\n"
            "To: Mario\n\nold",
            "Risposta.",
        ),
        ("Sopra.\n> citato\nSotto.", "Sopra.\nSotto."),
        # prose that merely looks like a header is kept
        ("On Monday the server wrote:\nerror 500 everywhere", None),
        ("From: the logs I see an error.\nNothing else.", None),
        # a reply that is only quotation keeps its text rather than vanishing
        ("> solo citazione\n> nient'altro", None),
        ("", ""),
    ],
)
def test_strip_quoted_reply(text: str, expected: str | None) -> None:
    result = strip_quoted_reply(text)
    if expected is None:
        assert result == text
    else:
        assert result == expected


@pytest.mark.parametrize(
    ("name", "content_type", "expected"),
    [
        ("report.pdf", None, "report.pdf"),
        ("../../etc/passwd", None, "passwd"),
        ("..\\..\\windows\\system32\\cmd.exe", None, "cmd.exe"),
        ("/abs/path/file.txt", None, "file.txt"),
        ("..", None, "attachment"),
        ("...", "application/pdf", "attachment.pdf"),
        ("", None, "attachment"),
        (None, None, "attachment"),
        (None, "application/x-unknown-thing", "attachment.bin"),
        (None, "image/png", "attachment.png"),
        (".htaccess", None, "htaccess"),
        ("evil\u202egpj.exe", None, "evilgpj.exe"),
        ("a\x00b\x1fc\x7f.txt", None, "abc.txt"),
        ("Cafe\u0301.txt", None, "Café.txt"),  # NFD -> NFC
        ('what?<is>:"this"|*.txt', None, "what__is___this___.txt"),
        ("con.txt", None, "_con.txt"),
        ("file.   ", None, "file"),
        ("x" * 300 + ".pdf", None, "x" * 146 + ".pdf"),
        ("y" * 300, None, "y" * 150),
        ("z" * 200 + "." + "e" * 40, None, ("z" * 200 + "." + "e" * 40)[:150]),
    ],
)
def test_sanitize_filename(name: str | None, content_type: str | None, expected: str) -> None:
    result = sanitize_filename(name, content_type)

    assert result == expected
    assert "/" not in result and "\\" not in result and len(result) <= 150


@pytest.mark.parametrize(
    ("headers", "from_email", "return_path", "expected"),
    [
        ({}, "a@b.example", "a@b.example", None),
        ({"Auto-Submitted": "no"}, "a@b.example", None, None),
        ({"Auto-Submitted": "auto-replied"}, "a@b.example", None, "auto-submitted: auto-replied"),
        (
            {"Auto-Submitted": "Auto-Generated; owner-email=x@y"},
            "a@b.example",
            None,
            "auto-submitted: auto-generated",
        ),
        ({"X-Autoreply": "yes"}, "a@b.example", None, "x-autoreply"),
        ({"X-Autorespond": "Out of office"}, "a@b.example", None, "x-autorespond"),
        ({"Precedence": "bulk"}, "a@b.example", None, "precedence: bulk"),
        ({"Precedence": "Junk"}, "a@b.example", None, "precedence: junk"),
        ({"Precedence": "list"}, "a@b.example", None, "precedence: list"),
        ({"Precedence": "auto_reply"}, "a@b.example", None, "precedence: auto_reply"),
        ({"Precedence": "first-class"}, "a@b.example", None, None),
        ({"List-Id": "<news.example.com>"}, "a@b.example", None, "list-id"),
        ({"Return-Path": "<>"}, "a@b.example", None, "empty return-path"),
        ({}, "a@b.example", "<>", "empty return-path"),
        ({}, "a@b.example", "", "empty return-path"),
        ({}, "MAILER-DAEMON@mx.example", None, "sender: mailer-daemon"),
        ({}, "Postmaster@example.com", None, "sender: postmaster"),
        ({}, "a@b.example", "<postmaster@example.com>", "sender: postmaster"),
        (
            {"Content-Type": "multipart/report; report-type=delivery-status"},
            "a@b.example",
            None,
            "delivery report",
        ),
        ([("x-failed-recipients", "z@y.example")], "a@b.example", None, "x-failed-recipients"),
        ([("Subject", "Auto-Submitted: yes")], "daemon@b.example", None, None),
    ],
)
def test_detect_automatic(
    headers: object, from_email: str, return_path: str | None, expected: str | None
) -> None:
    assert (
        detect_automatic(headers, from_email=from_email, return_path=return_path)  # type: ignore[arg-type]
        == expected
    )


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Re: [#2026-000123] Sito giù", "2026-000123"),
        ("[#2026-0001234567] x", "2026-0001234567"),
        ("[ #2026-000123 ] spazi", "2026-000123"),
        ("Fwd: Re: [#2025-000001] e [#2026-000002]", "2025-000001"),
        ("[#2026-12345] troppo corto", None),
        ("[#26-000123] anno corto", None),
        ("#2026-000123 senza parentesi", None),
        ("[2026-000123] senza cancelletto", None),
        ("", None),
        (None, None),
    ],
)
def test_extract_ticket_tag(subject: str | None, expected: str | None) -> None:
    assert extract_ticket_tag(subject) == expected
