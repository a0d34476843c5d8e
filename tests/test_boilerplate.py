"""E-mail boilerplate (disclaimers, privacy notices, signatures, "sent from my phone") is not the
customer's words: neither the signals nor the model may read it. Real rules, the real shipped
model, and footers written by someone else (``tests/fixtures/email_footers.json``: 30 English and
30 Spanish, signatures and legal notices of invented companies)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sevtriage.config import load_rules
from sevtriage.modelfile import model_text
from sevtriage.signals import extract_signals, hidden_from_model
from sevtriage.triage import Triager, load_model

REPO = Path(__file__).resolve().parents[1]
FOOTERS: list[dict[str, str]] = json.loads(
    (REPO / "tests" / "fixtures" / "email_footers.json").read_text(encoding="utf-8")
)

# The classic corporate disclaimer: every sentence of it names a P1 word (immediately, delete,
# lost, corrupted, destroyed) without saying anything about the ticket.
CLASSIC_EN = (
    "\n\nKind regards,\nDana Whitfield\nHead of Operations | Harbour Freight Ltd\n\n"
    "This e-mail and any attachments are confidential and may be privileged. If you are not "
    "the intended recipient, please notify the sender immediately and delete this message. "
    "E-mail transmission cannot be guaranteed to be secure or error-free as information could "
    "be intercepted, corrupted, lost, destroyed, arrive late or incomplete, or contain viruses. "
    "The sender accepts no liability for any loss or damage.\nSent from my iPhone"
)
CLASSIC_ES = (
    "\n\nUn saludo,\nMarta Ruiz\nDirectora de Operaciones - Transportes Ruiz\n\n"
    "AVISO LEGAL: Este mensaje y sus anexos son confidenciales. Si usted no es el destinatario, "
    "comuníquelo al remitente de inmediato y proceda a su eliminación; queda prohibida su copia "
    "o distribución. La información puede perderse, dañarse o ser interceptada en la "
    "transmisión y no aceptamos responsabilidad por pérdidas o daños.\nEnviado desde mi iPhone"
)
TICKETS = [
    ("Export to CSV times out", "Exports of over 10k rows time out; smaller ones work.", "en"),
    ("Reports are very slow", "The reports page takes 40 seconds to load for everyone.", "en"),
    ("How do I add an agent?", "Where in the settings do I invite a new agent?", "en"),
    ("Etiquetas", "El filtro por etiqueta falla a veces, recargando la página funciona.", "es"),
    ("Lentitud", "La bandeja tarda mucho en cargar desde ayer para todo el equipo.", "es"),
]


@pytest.fixture(scope="module")
def with_model() -> Triager:
    return Triager(REPO / "rules", model=load_model())


def _ticket(subject: str, body: str) -> dict[str, Any]:
    return {"id": "t", "subject": subject, "body": body, "plan": "business_plus"}


def _model_reason(result: dict[str, Any]) -> dict[str, Any]:
    return next(r for r in result["reasons"] if r["kind"] == "model")


@pytest.mark.parametrize("footer", [CLASSIC_EN, CLASSIC_ES], ids=["en", "es"])
def test_a_disclaimer_changes_neither_signals_nor_model(with_model: Triager, footer: str) -> None:
    """The model's input is the text with the boilerplate turned into spaces: the same words,
    so the same probabilities, to the last digit; and no signal fires on the disclaimer."""
    for subject, body, _ in TICKETS:
        plain = with_model.triage(_ticket(subject, body))
        signed = with_model.triage(_ticket(subject, body + footer))
        assert signed["signals"] == plain["signals"], subject
        assert signed["severity"] == plain["severity"], subject
        assert _model_reason(signed)["probabilities"] == _model_reason(plain)["probabilities"]


def test_the_disclaimer_alone_is_all_blanked_where_it_names_p1_words(triager: Triager) -> None:
    for footer in (CLASSIC_EN, CLASSIC_ES):
        text = model_text("", footer)
        seen = model_text("", footer, hidden_from_model(text, triager.config)).lower()
        for word in ("immediately", "inmediato", "delete", "eliminaci", "lost", "perderse"):
            assert word not in seen
        for word in ("corrupted", "destroyed", "dañarse", "operations", "operaciones", "iphone"):
            assert word not in seen
        assert not extract_signals("", footer, triager.config).true_signals()


def test_footers_written_by_others_fire_no_signal(triager: Triager) -> None:
    fired = {
        i: extract_signals("", f["text"], triager.config).true_signals()
        for i, f in enumerate(FOOTERS)
    }
    assert {i: names for i, names in fired.items() if names} == {}


def test_footers_written_by_others_keep_the_tickets_severity(with_model: Triager) -> None:
    """Each footer appended to each sample ticket: the severity stays the same for at least 95%
    of the pairs (the model still reads the signature lines that no marker names, and a linear
    model's probabilities move when words are added), and the signals stay the same in all."""
    records = [
        json.loads(line)
        for line in (REPO / "data" / "sample-tickets.jsonl").read_text("utf-8").splitlines()
    ]
    base = list(with_model.triage_records(enumerate(records)))
    same = total = 0
    for footer in FOOTERS:
        signed = [{**r, "body": r["body"] + footer["text"]} for r in records]
        for before, after in zip(base, with_model.triage_records(enumerate(signed)), strict=True):
            assert after["signals"] == before["signals"], (footer["text"][:60], before["id"])
            same += after["severity"] == before["severity"]
            total += 1
    assert same / total >= 0.95, same / total


@pytest.mark.parametrize(
    "text",
    [
        "Messages never reach the intended recipient since this morning.",
        "Los mensajes no llegan al destinatario desde esta mañana.",
        "We lost all the contacts: they may be lost for good, please restore the backup.",
        "Our legal team says any copying of the chat history is now impossible.",
        "Best regards to the team that fixed it last time",
    ],
)
def test_the_customers_own_words_are_not_boilerplate(triager: Triager, text: str) -> None:
    assert hidden_from_model(model_text("Problem", text), triager.config) == []


def test_a_signature_block_ends_at_the_first_blank_line(triager: Triager) -> None:
    body = "It fails.\n\nThanks,\nAna Ruiz\nIT, Acme\n\nP.S. exports fail too."
    blanked = model_text("", body, hidden_from_model(model_text("", body), triager.config))
    assert "Ana Ruiz" not in blanked and "It fails." in blanked and "exports fail too" in blanked


@settings(max_examples=200, deadline=None)
@given(
    st.text(max_size=120),
    st.lists(st.tuples(st.integers(0, 150), st.integers(0, 40)), max_size=4),
)
def test_model_text_blanking_keeps_length_and_only_writes_spaces(
    body: str, raw: list[tuple[int, int]]
) -> None:
    text = model_text("subject", body)
    spans = [(min(s, len(text)), min(s + n, len(text))) for s, n in raw]
    blanked = model_text("subject", body, spans)
    assert len(blanked) == len(text)
    inside = {i for s, e in spans for i in range(s, e)}
    for i, (a, b) in enumerate(zip(text, blanked, strict=True)):
        assert b == (" " if i in inside else a)


def test_a_broken_boilerplate_marker_is_refused_at_load(tmp_path: Path) -> None:
    import shutil

    from sevtriage.errors import ConfigError

    rules = tmp_path / "rules"
    shutil.copytree(REPO / "rules", rules)
    (rules / "MANIFEST.sha256").unlink()
    en = rules / "lexicons" / "en.yaml"
    en.write_text(
        en.read_text().replace("boilerplate_markers:\n", "boilerplate_markers:\n  - '(open'\n", 1)
    )
    with pytest.raises(ConfigError) as info:
        load_rules(rules)
    assert any(
        "en.yaml" in str(p) and "boilerplate_markers[0]" in str(p) for p in info.value.problems
    )


def test_training_texts_are_blanked_as_triage_blanks_them(triager: Triager) -> None:
    """What the model is trained on is what triage gives it: the same spans blanked, with a
    subject and without one (the model's text then starts with the newline)."""
    from sevtriage.model import model_texts

    records = [
        {"subject": s, "body": b + footer["text"], "label": "P3"}
        for (s, b, _), footer in zip(TICKETS, FOOTERS[::12], strict=True)
    ]
    records += [{**r, "subject": ""} for r in records]
    for record, text in zip(records, model_texts(records, triager.config), strict=True):
        report = extract_signals(record["subject"], record["body"], triager.config)
        assert report.hidden_from_model
        assert text == model_text(record["subject"], record["body"], report.hidden_from_model)


def test_the_boilerplate_gate_and_re2_programs_find_what_python_finds(triager: Triager) -> None:
    """Blanking runs each marker on RE2 when the gate names it: on any mix of footer lines and
    ticket lines, the gate names every marker Python's engine finds, and each marker's RE2
    program finds Python's spans."""
    from sevtriage.prefilter import exact_on, stand_in_bytes
    from sevtriage.signals import fold

    config = triager.config
    gate = config.boilerplate_prefilter
    assert gate is not None and config.boilerplate_markers
    pieces = [line for f in FOOTERS[::3] for line in f["text"].split("\n") if line][:60]
    pieces += ["the inbox is down", "Thanks,", "--", "", "¿puedo exportar?", "Regards"]
    lines = st.sampled_from(pieces)

    @settings(max_examples=150, deadline=None)
    @given(st.lists(lines, max_size=8).map("\n".join))
    def check(text: str) -> None:
        folded = fold(text)
        data = stand_in_bytes(folded)
        named = gate.candidates(data)
        for marker in config.boilerplate_markers:
            found = [m.span() for m in marker.finditer(folded) if m.end() > m.start()]
            if found:
                assert marker.pattern in named
                program = gate.exact.get(marker.pattern)
                if program is not None and exact_on(folded):
                    assert list(program.spans(data)) == found

    check()


LOGS = """2026-03-04T10:01:22Z INFO  api.request method=GET path=/v1/conversations status=200
[ERROR] 2026-03-04T10:02:11Z http POST /v1/contacts -> 401 unauthorized
2026-03-04 10:01:22,123 ERROR [main] c.a.WebhookService - delivery failed
Mar  4 10:01:22 web01 nginx[1234]: upstream timed out while reading response header
10.0.0.12 - - [04/Mar/2026:10:01:22 +0000] "POST /api/v2/webhooks HTTP/1.1" 504 0 "-"
    at com.acme.messaging.WebhookService.dispatch(WebhookService.java:42)
  File "/srv/app/api.py", line 12, in handler
queue=outbound size=12 lag_ms=40"""


def test_pasted_log_lines_are_machine_output(with_model: Triager) -> None:
    """Log lines name api, webhook, error, timed out: none of it may fire a signal or move the
    model (80 INFO lines appended to the blind tickets took session 9's system from 0.913 to
    0.771, through `key_feature` on 'api' and 'webhook')."""
    spans = hidden_from_model(model_text("", LOGS), with_model.config)
    seen = model_text("", LOGS, spans)
    assert seen.split() == []
    for subject, body, _ in TICKETS:
        plain = with_model.triage(_ticket(subject, body))
        logged = with_model.triage(_ticket(subject, body + "\n\n" + LOGS))
        assert logged["signals"] == plain["signals"], subject
        assert _model_reason(logged)["probabilities"] == _model_reason(plain)["probabilities"]


@pytest.mark.parametrize(
    "line",
    [
        "2026-03-04 09:12 all agents were logged out and the inbox went down",
        "Header of a bounced message shows s=pf2024; d=support.example.com, but the selector",
        "Los textos largos (aviso de protección de datos, requisitos) ya no se pueden guardar.",
        "We set timeout=30 in the widget and it still fails",
    ],
)
def test_a_customer_line_that_looks_technical_is_kept(triager: Triager, line: str) -> None:
    assert hidden_from_model(model_text("Problem", line), triager.config) == []


ACK = (
    "\n\nOn Mon, 3 Jun 2024 at 10:12, Support <support@example.com> wrote:\n"
    "> Thank you for contacting Support. We received your request #48213.\n"
    "> If this is an urgent issue and your service is down, please call our 24/7 line.\n"
)
LONG = (
    "Since the update on Monday the CSV export of the reports page times out for any range "
    "longer than a month. Shorter ranges work, so we export week by week and paste them "
    "together, which takes our analyst an hour every Friday."
)


def test_a_reply_that_says_enough_is_judged_without_what_it_quotes(with_model: Triager) -> None:
    """signals.yaml's model_input.hide_quotes_from_words (25): past it, the quoted
    auto-acknowledgement ("urgent", "service is down") is hidden from the model as well."""
    assert with_model.config.hide_quotes_from_words == 25
    plain = with_model.triage(_ticket("CSV export times out", LONG))
    replied = with_model.triage(_ticket("Re: CSV export times out", LONG + ACK))
    alone = with_model.triage(_ticket("Re: CSV export times out", LONG))
    assert replied["signals"] == plain["signals"]
    assert _model_reason(replied)["probabilities"] == _model_reason(alone)["probabilities"]


def test_a_short_follow_up_keeps_the_message_it_quotes(with_model: Triager) -> None:
    first = "All our WhatsApp numbers stopped receiving messages, no customer can reach us."
    body = "Any update? Still happening.\n\nOn Mon, Ana wrote:\n> " + first
    spans = with_model.signals(with_model.parse(_ticket("Re: outage", body))).hidden_from_model
    assert spans == ()
    followed = with_model.triage(_ticket("Re: outage", body))
    assert _model_reason(followed)["severity"] == "P1"


def test_quotes_are_always_read_without_the_setting(tmp_path: Path) -> None:
    import shutil

    rules = tmp_path / "rules"
    shutil.copytree(REPO / "rules", rules)
    (rules / "MANIFEST.sha256").unlink()
    signals = rules / "signals.yaml"
    text = signals.read_text()
    signals.write_text(text.replace("  hide_quotes_from_words: 25\n", "  {}\n"))
    config = load_rules(rules)
    assert config.hide_quotes_from_words is None
    assert extract_signals("Re: x", LONG + ACK, config).hidden_from_model == ()
    signals.write_text(text.replace("hide_quotes_from_words: 25", "hide_quotes_from_words: -1"))
    from sevtriage.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        load_rules(rules)
    assert any("model_input.hide_quotes_from_words" in str(p) for p in info.value.problems)


def test_the_robustness_bench_finds_the_invariances_on_the_sample() -> None:
    """``bench/robustness.py`` on the 60 sample tickets: case, accents, CRLF line ends, a legal
    disclaimer and 80 pasted log lines change no severity (the signals fold them away and the
    model reads the same words); every perturbation is measured on every ticket."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("robustness", REPO / "bench" / "robustness.py")
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    rows = {r["perturbation"]: r for r in bench.measure([REPO / "data" / "sample-tickets.jsonl"])}
    assert len(rows) == len(bench.perturbations([{"text": ""}]))
    assert all(r["tickets"] == 60 for r in rows.values())
    for name in (
        "clean",
        "upper case",
        "lower case",
        "accents removed",
        "CRLF line ends",
        "a legal disclaimer",
        "80 pasted log lines",
    ):
        assert rows[name]["changed"] == 0, name
    assert rows["clean"]["accuracy"] >= 0.85
