"""What the emails say: a name or any other one-line fact never becomes a paragraph (P2)."""

from app.services.notifications import letters

NAME = "Rossi\n\nATTENZIONE: paghi subito su http://evil.example"


def test_a_name_is_one_line_in_the_text_and_the_html():
    letter = letters.compose(
        "estimate_changed",
        language="it",
        name=NAME,
        number="2026-000001",
        subject="Sito lento\r\n\r\nPAGHI",
        estimate="giovedì 26 novembre 2026, 17:00",
        status_url="https://desk.example/status/x",
        company="Agenzia Web",
        support_address="assistenza@agency.example",
    )
    greeting = "Gentile Rossi ATTENZIONE: paghi subito su http://evil.example,"
    assert greeting in letter.text.splitlines()
    assert f"<p>{greeting}</p>" in letter.html
    assert "<p>ATTENZIONE" not in letter.html and "\nATTENZIONE" not in letter.text
    assert letter.subject == "[#2026-000001] Nuova previsione di risoluzione: Sito lento PAGHI"


def test_the_resolution_and_the_customers_excerpt_keep_their_paragraphs():
    letter = letters.compose(
        "on_call_alert",
        language="it",
        number="2026-000001",
        subject="URGENTE",
        from_email="mario@rossi.it",
        customer="Rossi\nBcc: x",
        received="sabato 28 novembre 2026, 10:00",
        due=None,
        excerpt="Primo paragrafo.\n\nSecondo paragrafo.",
    )
    assert "Da: mario@rossi.it (Rossi Bcc: x)" in letter.text.splitlines()
    assert "<p>Primo paragrafo.</p>" in letter.html and "<p>Secondo paragrafo.</p>" in letter.html
