"""E-mail threads and forwards, as intake receives them: an earlier message under a reply is not
the customer's report (the rules do not read it; the model does not once the customer's own words
are enough), while a forwarded message is the report. Real rules and the real shipped model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sevtriage.modelfile import model_text
from sevtriage.triage import Triager, load_model

REPO = Path(__file__).resolve().parents[1]

# What the earlier (or forwarded) message says: a full outage, in each language.
DOWN = {
    "en": "Our whole platform is down since 9am, nobody on the team can log in at all.",
    "es": "Toda la plataforma está caída desde las 9, nadie del equipo puede entrar.",
}
# The customer's own words in a reply: a usage question, long enough (25+ words) for the model
# to be judged without the quoted message.
QUESTION = {
    "en": "Thanks, that part is sorted now. One more question from our side: where in the "
    "settings do we change the default language of the chat widget for new visitors? We looked "
    "under Appearance and could not find it anywhere.",
    "es": "Gracias, eso ya está resuelto. Una duda más por nuestra parte: ¿dónde se cambia en "
    "la configuración el idioma por defecto del widget de chat para los visitantes nuevos? Lo "
    "hemos buscado en Apariencia y no lo encontramos por ningún lado.",
}
OUTLOOK = {
    "en": "From: Ana Lopez <ana@example.com>\nSent: Monday, June 3, 2024 10:12 AM\n"
    "To: Support <support@example.com>\nSubject: {subject}\n\n",
    "es": "De: Ana López <ana@example.com>\nEnviado el: lunes, 3 de junio de 2024 10:12\n"
    "Para: Soporte <soporte@example.com>\nAsunto: {subject}\n\n",
}
ATTRIBUTION = {
    "en": "On Mon, 3 Jun 2024 at 10:12, Ana Lopez <ana@example.com> wrote:\n",
    "es": "El lun, 3 jun 2024 a las 10:12, Ana López (<ana@example.com>) escribió:\n",
}
WRAPPED = {
    "en": "On Mon, 3 Jun 2024 at 10:12, Ana Lopez from the operations team <\n"
    "ana.lopez@example.com> wrote:\n",
    "es": "El lun, 3 jun 2024 a las 10:12, Ana López del equipo de operaciones (<\n"
    "ana.lopez@example.com>) escribió:\n",
}
WRAPPED_BEFORE_WROTE = {
    "en": "On Wed, 19 Feb 2025 at 22:05, Convoria Status <status@convoria.example.com>\nwrote:\n",
    "es": "El mié, 19 feb 2025 a las 22:05, Estado Convoria (<estado@convoria.example.es>)\n"
    "escribió:\n",
}
ORIGINAL = {"en": "-----Original Message-----\n", "es": "-----Mensaje original-----\n"}
FORWARD = {
    "en": "---------- Forwarded message ---------\nFrom: Ana Lopez <ana@example.com>\n"
    "Date: Mon, Jun 3, 2024 at 10:12 AM\nSubject: Platform\nTo: Support <support@example.com>\n\n",
    "es": "---------- Mensaje reenviado ---------\nDe: Ana López <ana@example.com>\n"
    "Date: lun, 3 jun 2024 a las 10:12\nSubject: Plataforma\nTo: Soporte <soporte@example.com>\n\n",
}
APPLE_FORWARD = {
    "en": "Begin forwarded message:\n\nFrom: Ana Lopez <ana@example.com>\nSubject: Platform\n"
    "Date: 3 June 2024 at 10:12:00 CEST\nTo: Support <support@example.com>\n\n",
    "es": "Inicio del mensaje reenviado:\n\nDe: Ana López <ana@example.com>\nAsunto: Plataforma\n"
    "Fecha: 3 de junio de 2024, 10:12:00 CEST\nPara: Soporte <soporte@example.com>\n\n",
}
FW = {"en": "FW: ", "es": "RV: "}
LANGUAGES = ["en", "es"]


@pytest.fixture(scope="module")
def with_model() -> Triager:
    return Triager(REPO / "rules", model=load_model())


def _ticket(subject: str, body: str, language: str) -> dict[str, Any]:
    return {"id": "t", "subject": subject, "body": body, "language": language}


def _signals(triager: Triager, subject: str, body: str, language: str) -> dict[str, bool]:
    return triager.triage(_ticket(subject, body, language))["signals"]


def _seen_by_model(triager: Triager, subject: str, body: str, language: str) -> str:
    """The text the model reads: the hidden spans as spaces."""
    report = triager.signals(triager.parse(_ticket(subject, body, language)))
    return model_text(subject, body, report.hidden_from_model)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_earlier_message_alone_fires_outage(triager: Triager, lang: str) -> None:
    """The control for the tests below: the quoted text does fire on its own."""
    assert _signals(triager, "Platform", DOWN[lang], lang).get("outage")


@pytest.mark.parametrize("lang", LANGUAGES)
def test_a_reply_over_an_outlook_header_block_reads_only_the_reply(
    with_model: Triager, lang: str
) -> None:
    """Outlook quotes without '>': the header block (From/De, Sent/Enviado, To/Para,
    Subject/Asunto) starts the earlier message, which runs to the end."""
    earlier = OUTLOOK[lang].format(subject="Platform") + DOWN[lang]
    body = QUESTION[lang] + "\n\n" + "_" * 32 + "\n" + earlier
    assert not _signals(with_model, "RE: Platform", body, lang).get("outage")
    seen = _seen_by_model(with_model, "RE: Platform", body, lang)
    assert QUESTION[lang][:40] in seen and DOWN[lang][:20] not in seen
    result = with_model.triage(_ticket("RE: Platform", body, lang))
    assert (
        result["severity"]
        == with_model.triage(_ticket("RE: Platform", QUESTION[lang], lang))["severity"]
    )


@pytest.mark.parametrize("lang", LANGUAGES)
def test_an_attribution_without_quote_marks_starts_the_earlier_message(
    triager: Triager, lang: str
) -> None:
    """An HTML mail turned into text keeps "On ... wrote:" but loses the '>' marks."""
    for attribution in (ATTRIBUTION[lang], WRAPPED[lang], WRAPPED_BEFORE_WROTE[lang]):
        body = QUESTION[lang] + "\n\n" + attribution + DOWN[lang]
        assert not _signals(triager, "Re: Platform", body, lang).get("outage"), attribution


@pytest.mark.parametrize("lang", LANGUAGES)
def test_an_inline_answer_below_a_quoted_line_is_read(triager: Triager, lang: str) -> None:
    """Quoted with '>', only the attribution and the quoted lines are blanked: the customer's
    answers between them are the customer's words."""
    body = ATTRIBUTION[lang] + "> Is everything working again?\n" + DOWN[lang]
    assert _signals(triager, "Re: Platform", body, lang).get("outage")
    quoted = ATTRIBUTION[lang] + "> " + DOWN[lang] + "\nThanks, all good now."
    assert not _signals(triager, "Re: Platform", quoted, lang).get("outage")


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("separator", ["original", "underscores"])
def test_an_outlook_forward_is_the_report(with_model: Triager, lang: str, separator: str) -> None:
    """Outlook heads a forward as it heads a reply; the ticket's subject (FW:/RV:) says it is a
    forward, so the forwarded message is read and only its header lines are blanked."""
    line = ORIGINAL[lang] if separator == "original" else "_" * 32 + "\n"
    body = "FYI.\n\n" + line + OUTLOOK[lang].format(subject="Platform") + DOWN[lang]
    subject = FW[lang] + "Platform"
    result = with_model.triage(_ticket(subject, body, lang))
    assert result["signals"].get("outage")
    assert result["severity"] == "P1"
    seen = _seen_by_model(with_model, subject, body, lang)
    assert DOWN[lang] in seen
    assert "ana@example.com" not in seen and "10:12" not in seen  # the header lines
    # The same text as a reply ("RE:") is an earlier message: not read by the rules.
    assert not _signals(with_model, "RE: Platform", body, lang).get("outage")


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("header", [FORWARD, APPLE_FORWARD], ids=["gmail", "apple"])
def test_a_forwarded_message_keeps_its_words_without_its_headers(
    with_model: Triager, lang: str, header: dict[str, str]
) -> None:
    body = "Please see below.\n\n" + header[lang] + DOWN[lang]
    subject = "Fwd: Platform"
    assert _signals(with_model, subject, body, lang).get("outage")
    seen = _seen_by_model(with_model, subject, body, lang)
    assert DOWN[lang] in seen and "ana@example.com" not in seen and "10:12" not in seen


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_tickets_own_header_lines_at_the_top_are_blanked_not_the_ticket(
    with_model: Triager, lang: str
) -> None:
    """Some intake puts the e-mail's own header lines at the top of the body: they are not an
    earlier message (the report follows them), so only they are blanked."""
    body = OUTLOOK[lang].format(subject="Platform") + DOWN[lang]
    for subject in ("Platform", ""):
        assert _signals(with_model, subject, body, lang).get("outage"), subject
        seen = _seen_by_model(with_model, subject, body, lang)
        assert DOWN[lang] in seen and "ana@example.com" not in seen, subject


def test_a_forward_of_a_thread_still_blanks_the_thread_inside_it(triager: Triager) -> None:
    """The forwarded message is read; an older message quoted inside it is not."""
    inner = "We cannot find the export button.\n\n" + ATTRIBUTION["en"] + DOWN["en"]
    body = "FYI.\n\n" + FORWARD["en"] + inner
    assert not _signals(triager, "Fwd: Platform", body, "en").get("outage")
    assert _signals(triager, "Fwd: Platform", "FYI.\n\n" + FORWARD["en"] + DOWN["en"], "en").get(
        "outage"
    )


def _python_spans(marker: Any, folded: str) -> list[tuple[int, int]]:
    """What blanking takes from a marker on Python's engine: its "blank" group, or the match."""
    group = "blank" if "blank" in marker.groupindex else 0
    spans = [(m.start(group), m.end(group)) for m in marker.finditer(folded)]
    return [(start, end) for start, end in spans if end > start]


def test_thread_markers_on_re2_find_what_python_finds(triager: Triager) -> None:
    """Each thread or forward marker the gates name runs on RE2 when it can: on any mix of
    thread, forward and ticket lines, the gate names every marker Python's engine finds, and
    a marker's RE2 program (the '>' marker blanks its group on RE2 too) finds Python's spans."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from sevtriage.prefilter import exact_on, stand_in_bytes
    from sevtriage.signals import fold

    config = triager.config
    pieces = [
        line
        for table in (
            OUTLOOK,
            ATTRIBUTION,
            WRAPPED,
            WRAPPED_BEFORE_WROTE,
            ORIGINAL,
            FORWARD,
            APPLE_FORWARD,
            DOWN,
        )
        for text in table.values()
        for line in text.format(subject="Platform").split("\n")
    ]
    pieces += ["> quoted words", "  >> nested", ">", "FW: Platform", "RV: Plataforma", "_" * 20]
    lines = st.sampled_from(pieces)
    checked = {"quote": 0, "boilerplate": 0}

    @settings(max_examples=200, deadline=None)
    @given(st.lists(lines, max_size=9).map("\n".join))
    def check(text: str) -> None:
        folded = fold(text)
        data = stand_in_bytes(folded)
        for kind, gate, markers in (
            ("quote", config.quote_prefilter, config.quote_markers),
            ("boilerplate", config.boilerplate_prefilter, config.boilerplate_markers),
        ):
            assert gate is not None
            named = gate.candidates(data)
            for marker in markers:
                found = _python_spans(marker, folded)
                if not found:
                    continue
                assert marker.pattern in named
                program = gate.exact.get(marker.pattern)
                if program is not None and exact_on(folded):
                    assert list(program.spans(data)) == found, marker.pattern
                    checked[kind] += 1

    check()
    assert checked["quote"] > 0  # the '>' and attribution markers ran on RE2
