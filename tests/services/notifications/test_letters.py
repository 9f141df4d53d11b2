"""What the emails say: a name or any other one-line fact never becomes a paragraph (P2); days
and lists in the reader's language, from Babel's locale data."""

import pytest

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


HOURS = [["15:00", "18:00"]]


@pytest.mark.parametrize(
    ("weekly", "language", "words"),
    [
        (
            {d: HOURS for d in ("mon", "tue", "wed", "thu", "fri")},
            "it",
            "dal lunedì al venerdì, 15:00-18:00",
        ),
        (
            {d: HOURS for d in ("mon", "tue", "wed", "thu", "fri")},
            "en",
            "Monday to Friday, 15:00-18:00",
        ),
        (
            {"mon": HOURS, "tue": HOURS, "thu": [["09:00", "13:00"], ["14:00", "18:00"]]},
            "it",
            "dal lunedì al martedì, 15:00-18:00 e giovedì, 09:00-13:00, 14:00-18:00",
        ),
        # Babel's lists: three or more take the locale's commas (the serial comma in English).
        (
            {"mon": HOURS, "wed": HOURS, "sat": HOURS},
            "en",
            "Monday, 15:00-18:00, Wednesday, 15:00-18:00, and Saturday, 15:00-18:00",
        ),
        # domenica is feminine: the run of the whole week ends "alla domenica".
        (
            {d: HOURS for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")},
            "it",
            "dal lunedì alla domenica, 15:00-18:00",
        ),
        ({}, "it", ""),
    ],
)
def test_opening_hours_read_as_the_language_says_them(weekly, language, words):
    assert letters.opening_hours(weekly, language) == words
