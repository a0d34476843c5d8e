"""Quality under noise: the same labelled tickets, perturbed, through the real triage (rules and
the model in service). One row per perturbation: accuracy, P1 recall, and how many severities
differ from the clean run. Asserts nothing; prints a table (or JSON).

    .venv/bin/python bench/robustness.py [FILE ...] [--model PATH] [--seed 3] [--json]

Default FILEs: the blind sets 4-10 (evaluation-only, 560 tickets). The perturbations are what
e-mail and chat intake does to a ticket: case, accents, line ends, HTML, typos, a missing subject,
a legal disclaimer, signatures and notices (``tests/fixtures/email_footers.json``, one per ticket
in turn), pasted log lines, a quoted auto-acknowledgement, another ticket quoted below (an old
thread: quoted with ">", under an Outlook header block, or below "wrote:" without ">"), a
short follow-up that quotes the ticket, a forward (Gmail's, Outlook's). Each is deterministic
(``--seed``).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DEFAULT_FILES = [REPO / "data" / f"blind-probe-{n}.jsonl" for n in range(4, 11)]

DISCLAIMER = {
    "en": "\n\nKind regards,\nDana Whitfield\nHead of Operations | Harbour Freight Ltd\n\n"
    "This e-mail and any attachments are confidential and may be privileged. If you are not "
    "the intended recipient, please notify the sender immediately and delete this message. "
    "E-mail transmission cannot be guaranteed to be secure or error-free as information could "
    "be intercepted, corrupted, lost, destroyed, arrive late or incomplete, or contain viruses. "
    "The sender accepts no liability for any loss or damage.\nSent from my iPhone",
    "es": "\n\nUn saludo,\nMarta Ruiz\nDirectora de Operaciones - Transportes Ruiz\n\n"
    "AVISO LEGAL: Este mensaje y sus anexos son confidenciales. Si usted no es el destinatario, "
    "comuníquelo al remitente de inmediato y proceda a su eliminación; queda prohibida su "
    "copia o distribución. La información puede perderse, dañarse o ser interceptada en la "
    "transmisión y no aceptamos responsabilidad por pérdidas o daños.\nEnviado desde mi iPhone",
}
ACK = {
    "en": "\n\nOn Mon, 3 Jun 2024 at 10:12, Support <support@example.com> wrote:\n"
    "> Thank you for contacting Support. We have received your request #48213.\n"
    "> If this is an urgent issue and your service is down, please call our 24/7 line.\n"
    "> Kind regards,\n> The Support Team",
    "es": "\n\nEl lun, 3 jun 2024 a las 10:12, Soporte <soporte@example.com> escribió:\n"
    "> Gracias por contactar con Soporte. Hemos recibido su solicitud #48213.\n"
    "> Si se trata de una incidencia urgente y el servicio está caído, llame a nuestra línea "
    "24/7.\n> Un saludo,\n> El equipo de Soporte",
}
QUOTE_HEADER = {
    "en": "\n\nOn Mon, 3 Jun 2024 at 10:12, Ana <ana@example.com> wrote:\n",
    "es": "\n\nEl lun, 3 jun 2024 a las 10:12, Ana <ana@example.com> escribió:\n",
}
# Outlook's header block over an earlier message: a reply's, or a forward's (under the
# "-----Original Message-----" line that Outlook puts over both).
OUTLOOK_HEADER = {
    "en": "From: Ana Lopez <ana@example.com>\nSent: Monday, June 3, 2024 10:12 AM\n"
    "To: Support <support@example.com>\nSubject: {subject}\n\n",
    "es": "De: Ana López <ana@example.com>\nEnviado el: lunes, 3 de junio de 2024 10:12\n"
    "Para: Soporte <soporte@example.com>\nAsunto: {subject}\n\n",
}
ORIGINAL_MESSAGE = {"en": "-----Original Message-----\n", "es": "-----Mensaje original-----\n"}
FORWARD_PREFIX = {"en": "FW: ", "es": "RV: "}
FYI = {"en": "FYI, see below.\n\n", "es": "Para vuestra información, ver abajo.\n\n"}
FOLLOW_UP = {
    "en": "Any update on this? It's still happening.",
    "es": "¿Alguna novedad? Sigue pasando.",
}
LOG_LINES = (
    "2026-03-04T10:{m:02d}:{s:02d}Z INFO  api.request method=GET path=/v1/conversations "
    "status=200 duration_ms={n}",
    "2026-03-04T10:{m:02d}:{s:02d}Z DEBUG worker.poll queue=outbound size={n}",
    "2026-03-04T10:{m:02d}:{s:02d}Z INFO  webhook.delivered id=wh_{n} attempt=1",
)

Ticket = dict[str, Any]
# f(subject, body, language, index, rng, all tickets) -> (subject, body)
Perturbation = Callable[[str, str, str, int, random.Random, list[Ticket]], tuple[str, str]]


def _quoted(text: str) -> str:
    return "\n".join("> " + line for line in text.split("\n"))


def _typos(text: str, rate: float, rng: random.Random) -> str:
    words = text.split(" ")
    for i, word in enumerate(words):
        if len(word) > 3 and rng.random() < rate:
            at = rng.randrange(1, len(word) - 1)
            kind = rng.random()
            if kind < 0.4:  # swap two letters
                word = word[:at] + word[at + 1] + word[at] + word[at + 2 :]
            elif kind < 0.7:  # drop one
                word = word[:at] + word[at + 1 :]
            else:  # double one
                word = word[:at] + word[at] + word[at:]
            words[i] = word
    return " ".join(words)


def _no_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _logs(rng: random.Random, lines: int) -> str:
    return "\n".join(
        rng.choice(LOG_LINES).format(m=i % 60, s=rng.randrange(60), n=rng.randrange(1000))
        for i in range(lines)
    )


def _html(body: str) -> str:
    paragraphs = body.replace("\n\n", "</p><p>").replace("\n", "<br>")
    return f"<html><body><p>{paragraphs}</p></body></html>"


def _outlook(ticket: Ticket, lang: str) -> str:
    """``ticket`` under an Outlook header block, as a reply carries the message it answers."""
    subject = str(ticket.get("subject") or "")
    return OUTLOOK_HEADER[lang].format(subject=subject) + str(ticket["body"])


def perturbations(footers: list[dict[str, str]]) -> dict[str, Perturbation]:
    """The perturbations by name, "clean" first."""
    return {
        "clean": lambda s, b, lang, i, rng, all_: (s, b),
        "upper case": lambda s, b, lang, i, rng, all_: (s.upper(), b.upper()),
        "lower case": lambda s, b, lang, i, rng, all_: (s.lower(), b.lower()),
        "accents removed": lambda s, b, lang, i, rng, all_: (_no_accents(s), _no_accents(b)),
        "CRLF line ends": lambda s, b, lang, i, rng, all_: (s, b.replace("\n", "\r\n")),
        "HTML-wrapped": lambda s, b, lang, i, rng, all_: (s, _html(b)),
        "no subject": lambda s, b, lang, i, rng, all_: ("", b),
        "subject only": lambda s, b, lang, i, rng, all_: (s, s or b[:80]),
        "typos in 10% of words": lambda s, b, lang, i, rng, all_: (
            _typos(s, 0.1, rng),
            _typos(b, 0.1, rng),
        ),
        "typos in 25% of words": lambda s, b, lang, i, rng, all_: (
            _typos(s, 0.25, rng),
            _typos(b, 0.25, rng),
        ),
        "a legal disclaimer": lambda s, b, lang, i, rng, all_: (s, b + DISCLAIMER[lang]),
        "a footer written by others": lambda s, b, lang, i, rng, all_: (
            s,
            b + footers[i % len(footers)]["text"],
        ),
        "80 pasted log lines": lambda s, b, lang, i, rng, all_: (s, b + "\n\n" + _logs(rng, 80)),
        "a quoted auto-acknowledgement": lambda s, b, lang, i, rng, all_: (
            "Re: " + s,
            b + ACK[lang],
        ),
        "another ticket quoted below": lambda s, b, lang, i, rng, all_: (
            "Re: " + s,
            b + QUOTE_HEADER[lang] + _quoted(str(rng.choice(all_)["body"])),
        ),
        "a short follow-up quoting it": lambda s, b, lang, i, rng, all_: (
            "Re: " + s,
            FOLLOW_UP[lang] + QUOTE_HEADER[lang] + _quoted(b),
        ),
        "another ticket under an Outlook header": lambda s, b, lang, i, rng, all_: (
            "RE: " + s,
            b + "\n\n" + "_" * 32 + "\n" + _outlook(rng.choice(all_), lang),
        ),
        "another ticket below 'wrote:', no '>'": lambda s, b, lang, i, rng, all_: (
            "Re: " + s,
            b + QUOTE_HEADER[lang] + str(rng.choice(all_)["body"]),
        ),
        "forwarded from Outlook": lambda s, b, lang, i, rng, all_: (
            FORWARD_PREFIX[lang] + s,
            FYI[lang] + ORIGINAL_MESSAGE[lang] + OUTLOOK_HEADER[lang].format(subject=s) + b,
        ),
        "forwarded": lambda s, b, lang, i, rng, all_: (
            "Fwd: " + s,
            "Please see below.\n\n---------- Forwarded message ---------\nFrom: Ana "
            f"<ana@example.com>\nSubject: {s}\n\n{b}",
        ),
    }


def measure(
    files: list[Path], model_path: Path | None = None, seed: int = 3
) -> list[dict[str, Any]]:
    from sevtriage.triage import Triager, load_model

    tickets: list[Ticket] = []
    for path in files:
        with path.open(encoding="utf-8") as lines:
            tickets += [json.loads(line) for line in lines if line.strip()]
    footers = json.loads(
        (REPO / "tests" / "fixtures" / "email_footers.json").read_text(encoding="utf-8")
    )
    triager = Triager(model=load_model(model_path))
    rows: list[dict[str, Any]] = []
    clean: list[str] = []
    for name, perturb in perturbations(footers).items():
        rng = random.Random(seed)
        inputs = []
        for i, ticket in enumerate(tickets):
            language = "es" if ticket.get("language") == "es" else "en"
            subject, body = str(ticket.get("subject") or ""), str(ticket["body"])
            subject, body = perturb(subject, body, language, i, rng, tickets)
            inputs.append({"id": ticket.get("id"), "subject": subject, "body": body})
        got = [str(r.get("severity")) for r in triager.triage_records(enumerate(inputs, 1))]
        if name == "clean":
            clean = got
        labels = [str(t["label"]) for t in tickets]
        p1 = [g == "P1" for g, label in zip(got, labels, strict=True) if label == "P1"]
        rows.append(
            {
                "perturbation": name,
                "accuracy": round(
                    sum(g == y for g, y in zip(got, labels, strict=True)) / len(got), 3
                ),
                "p1_recall": round(sum(p1) / len(p1), 3) if p1 else None,
                "changed": sum(g != c for g, c in zip(got, clean, strict=True)),
                "tickets": len(got),
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="*", type=Path, default=DEFAULT_FILES)
    parser.add_argument("--model", type=Path, default=None, help="default: the model in service")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = measure(args.files, args.model, args.seed)
    if args.json:
        json.dump(rows, sys.stdout, indent=1)
        print()
        return
    print(f"sevtriage robustness: {rows[0]['tickets']} tickets from {len(args.files)} file(s)")
    print(f"  {'perturbation':40s} {'accuracy':>8s} {'P1 recall':>9s} {'changed':>8s}")
    for row in rows:
        p1 = "-" if row["p1_recall"] is None else f"{row['p1_recall']:.3f}"
        print(f"  {row['perturbation']:40s} {row['accuracy']:8.3f} {p1:>9s} {row['changed']:8d}")


if __name__ == "__main__":
    main()
