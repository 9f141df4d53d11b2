"""A reply with an HTML or Markdown body: sanitised with the rules of inbound HTML, stored so,
and sent as multipart/alternative (the plain text and the sanitised HTML) to a real SMTP server
on loopback. Hostile HTML (script, event handlers, javascript: URLs, style and CSS expressions,
SVG) never leaves, in the email or in the stored copy."""

from html.parser import HTMLParser

from hypothesis import given
from hypothesis import strategies as st

from app.models.message import ReplyIn
from app.services.notifications import letters
from app.services.tickets.replies import html_of
from tests.routers.test_replies import desk  # noqa: F401  (fixture)

HOSTILE = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    '<img src="https://x.example/a.png" onerror="alert(1)">',
    '<p onclick="alert(1)" onmouseover=alert(1)>clic</p>',
    '<a href="javascript:alert(1)">link</a>',
    '<a href="  JaVaScRiPt:alert(1)">spaced</a>',
    '<a href="java&#x09;script:alert(1)">tab</a>',
    '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">data</a>',
    '<img src="vbscript:msgbox(1)">',
    "<style>body{background:url(javascript:alert(1))}</style>",
    '<div style="width: expression(alert(1)); background:url(javascript:alert(1))">css</div>',
    '<svg onload="alert(1)"><script>alert(1)</script><circle r="1"/></svg>',
    '<svg><a xlink:href="javascript:alert(1)"><text>x</text></a></svg>',
    '<iframe src="https://evil.example"></iframe>',
    '<object data="x.swf"></object><embed src="x.swf">',
    '<form action="https://evil.example"><input name="p"></form>',
    '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    '<base href="https://evil.example/">',
    '<math><mi xlink:href="javascript:alert(1)">x</mi></math>',
    "<!--<script>alert(1)</script>-->",
    '<img src=x onerror=alert(1)//">',
]
SAFE_SCHEMES = {"http", "https", "mailto", "cid", "tel"}
DANGEROUS_TAGS = {
    "script", "style", "svg", "math", "iframe", "object", "embed", "form", "input", "meta",
    "base", "link",
}  # fmt: skip


class Danger(HTMLParser):
    """What a browser could run or fetch unasked in an HTML document."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in DANGEROUS_TAGS:
            self.found.append(f"<{tag}>")
        for name, value in attrs:
            if name.startswith("on") or name in {"style", "xlink:href", "formaction"}:
                self.found.append(f"{tag} {name}")
            if name in {"href", "src", "action"} and value is not None:
                scheme, colon, _ = value.strip().partition(":")
                if not colon or scheme.lower() not in SAFE_SCHEMES:
                    self.found.append(f"{tag} {name}={value}")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_comment(self, data: str) -> None:
        self.found.append("comment")


def dangers(html: str) -> list[str]:
    parser = Danger()
    parser.feed(html)
    parser.close()
    return parser.found


def in_body(document: str) -> str:
    """What the email's HTML part holds inside its (our) body element."""
    assert document.count("<body") == 1 and document.count("</body>") == 1
    return document.split("<body", 1)[1].split(">", 1)[1].split("</body>")[0]


def reply_letter(body_html: str | None = None, body_markdown: str | None = None) -> str:
    """The HTML part the worker writes for a reply with this body."""
    data = ReplyIn(text="Testo.", body_html=body_html, body_markdown=body_markdown)
    letter = letters.compose(
        "reply",
        language="it",
        reply=data.text,
        reply_html=html_of(data),
        agent="Marco",
        number="2026-000001",
        subject="Sito lento",
        company="Agenzia Web",
        support_address="assistenza@agency.example",
        status_url="https://desk.example/status/t",
        resolution="",
        delivery_mode=None,
        taken=None,
        estimate=None,
        resolved=None,
    )
    return in_body(letter.html)


def test_every_hostile_fragment_is_disarmed_in_the_stored_html_and_the_email():
    for fragment in HOSTILE:
        data = ReplyIn(text="t", body_html=f"<p>Buongiorno</p>{fragment}")
        stored = html_of(data)
        assert stored is not None and "Buongiorno" in stored
        assert dangers(stored) == [], fragment
        assert dangers(reply_letter(body_html=data.body_html)) == [], fragment


@given(
    st.lists(st.sampled_from([*HOSTILE, "<b>", "</b>", "<p>", "ciao", '"', "<", ">"]), max_size=8)
)
def test_any_mix_of_hostile_fragments_leaves_nothing_dangerous(pieces):
    html = "<p>x</p>" + "".join(pieces)
    assert dangers(html_of(ReplyIn(text="t", body_html=html)) or "") == []
    assert dangers(reply_letter(body_html=html)) == []


@given(st.lists(st.sampled_from([*HOSTILE, "[a](javascript:alert(1))", "**b**", "\n\n"])))
def test_markdown_with_hostile_html_or_links_leaves_nothing_dangerous(pieces):
    markdown = "Ciao " + "".join(pieces)
    assert dangers(html_of(ReplyIn(text="t", body_markdown=markdown)) or "") == []
    assert dangers(reply_letter(body_markdown=markdown)) == []


def test_markdown_becomes_html_and_its_raw_html_stays_text():
    html = html_of(
        ReplyIn(
            text="t",
            body_markdown="# Passi\n\n1. **Apra** [il pannello](https://x.example/p)\n"
            "2. `php -v`\n\n<script>alert(1)</script> [x](javascript:alert(1))",
        )
    )
    assert html is not None
    assert "<h1>Passi</h1>" in html and "<strong>Apra</strong>" in html
    assert '<a href="https://x.example/p" rel="noopener noreferrer">il pannello</a>' in html
    assert "<code>php -v</code>" in html
    assert "&lt;script&gt;" in html and "<script" not in html  # shown as text
    assert "[x](javascript:alert(1))</p>" in html  # not made a link: text
    assert dangers(html) == []


def test_both_bodies_or_an_empty_one_are_refused(desk):  # noqa: F811
    first = desk.receive()
    path = f"/api/v1/tickets/{first['ticket_id']}/replies"
    both = desk.agent.post(path, json={"text": "t", "body_html": "<b>x</b>", "body_markdown": "x"})
    assert both.status_code == 422
    empty = desk.agent.post(path, json={"text": "t", "body_html": ""})
    assert empty.status_code == 422
    huge = desk.agent.post(path, json={"text": "t", "body_markdown": "x" * 200_001})
    assert huge.status_code == 422


def test_an_html_reply_is_sent_as_plain_and_sanitised_html_and_stored_sanitised(desk):  # noqa: F811
    first = desk.receive()
    desk.deliver()  # the receipt
    hostile = "".join(HOSTILE)
    response = desk.agent.post(
        f"/api/v1/tickets/{first['ticket_id']}/replies",
        json={
            "text": "Buongiorno, apra il pannello.",
            "body_html": f"<p>Buongiorno, apra <b>il pannello</b>.</p>{hostile}",
        },
    )
    assert response.status_code == 201, response.text
    stored = response.json()["html"]
    assert "<b>il pannello</b>" in stored and dangers(stored) == []
    listed = desk.agent.get(f"/api/v1/tickets/{first['ticket_id']}/messages").json()["items"]
    assert listed[-1]["html"] == stored  # kept as it was sanitised

    [sent] = desk.deliver()
    assert sent.message.get_content_type() == "multipart/alternative"
    parts = [part.get_content_type() for part in sent.message.iter_parts()]
    assert parts == ["text/plain", "text/html"]
    assert "Buongiorno, apra il pannello." in sent.text and "<b>" not in sent.text
    assert "<b>il pannello</b>" in sent.html and "/status/" in sent.html
    assert dangers(in_body(sent.html)) == []
    raw = sent.raw.decode("ascii", "replace").lower()
    assert "<script" not in raw and "onerror" not in raw and "javascript:" not in raw


def test_a_markdown_reply_with_a_file_is_mixed_around_the_alternative(desk):  # noqa: F811
    first = desk.receive()
    desk.deliver()  # the receipt
    response = desk.agent.post(
        f"/api/v1/tickets/{first['ticket_id']}/replies",
        json={
            "text": "Passi: apra il pannello.",
            "body_markdown": "Passi:\n\n- apra **il pannello**\n- <img src=x onerror=alert(1)>",
            "attachments": [
                {"filename": "a.txt", "content_type": "text/plain", "content_base64": "YQ=="}
            ],
        },
    )
    assert response.status_code == 201, response.text
    [sent] = desk.deliver()
    assert sent.message.get_content_type() == "multipart/mixed"
    body = next(sent.message.iter_parts())
    assert body.get_content_type() == "multipart/alternative"
    assert "<li>apra <strong>il pannello</strong></li>" in sent.html
    assert "&lt;img src=x onerror=alert(1)&gt;" in sent.html  # raw HTML shown as text
    assert dangers(in_body(sent.html)) == []
