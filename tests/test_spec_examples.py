"""Every example sentence of the spec (Spanish original and an English rendering) gets its severity."""

from __future__ import annotations

import pytest

from sevtriage.triage import Triager

SPEC_EXAMPLES = [
    # P1 Urgente
    ("P1", "es", "El servicio está completamente caído o no disponible."),
    ("P1", "en", "The service is completely down or unavailable."),
    (
        "P1",
        "es",
        "Los datos están corruptos o perdidos y deben ser restaurados desde la copia de seguridad.",
    ),
    ("P1", "en", "The data is corrupt or lost and must be restored from backup."),
    ("P1", "es", "Las operaciones empresariales están grave y severamente alteradas."),
    ("P1", "en", "Business operations are seriously and severely disrupted."),
    ("P1", "es", "Corrupción o pérdida de datos que requiere restauración inmediata."),
    ("P1", "en", "Data corruption or loss that requires immediate restoration."),
    ("P1", "es", "Alteración severa de las operaciones empresariales sin solución alternativa."),
    ("P1", "en", "Severe disruption of business operations with no workaround."),
    (
        "P1",
        "es",
        "Un problema crítico que detiene las operaciones empresariales. No existe una solución alternativa.",
    ),
    ("P1", "en", "A critical issue that stops business operations. There is no workaround."),
    # P2 Alto
    (
        "P2",
        "es",
        "El servicio está operativo pero experimentando degradación extrema de rendimiento, lo que hace difícil su uso.",
    ),
    (
        "P2",
        "en",
        "The service is operational but experiencing extreme performance degradation, making it difficult to use.",
    ),
    (
        "P2",
        "es",
        "Características clave de la plataforma de Software como Servicio (SaaS) no están disponibles.",
    ),
    ("P2", "en", "Key features of the Software as a Service (SaaS) platform are unavailable."),
    ("P2", "es", "Las operaciones empresariales pueden continuar, pero con limitaciones."),
    ("P2", "en", "Business operations can continue, but with limitations."),
    (
        "P2",
        "es",
        "La funcionalidad principal está afectada o el rendimiento está gravemente degradado. Existe una solución provisional.",
    ),
    (
        "P2",
        "en",
        "Core functionality is affected or performance is severely degraded. A provisional workaround exists.",
    ),
    ("P2", "es", "Existe una solución provisional, pero no resuelve completamente el problema."),
    ("P2", "en", "There is a workaround, but it does not fully solve the problem."),
    # P3 Medio
    (
        "P3",
        "es",
        "Algunos componentes no funcionan correctamente, pero el software sigue siendo utilizable.",
    ),
    ("P3", "en", "Some components are not working correctly, but the software is still usable."),
    (
        "P3",
        "es",
        "Existe una solución alternativa a corto plazo, aunque no sea una solución escalable.",
    ),
    ("P3", "en", "There is a short-term workaround, even if it is not a scalable solution."),
    (
        "P3",
        "es",
        "Pérdida parcial y no crítica del servicio con un impacto empresarial medio a bajo.",
    ),
    ("P3", "en", "Partial, non-critical loss of service with a medium to low business impact."),
    ("P3", "es", "Existe una solución alternativa, pero no es una solución ideal o a largo plazo."),
    ("P3", "en", "A workaround exists, but it is not an ideal or long-term solution."),
    # P4 Bajo
    ("P4", "es", "Consultas generales sobre el uso de la aplicación."),
    ("P4", "en", "General questions about how to use the application."),
    ("P4", "es", "Consultas relacionadas con capacitación para equipos internos o clientes."),
    ("P4", "en", "Questions about training for internal teams or customers."),
    ("P4", "es", "Solicitudes de documentación o consultas relacionadas con preguntas frecuentes."),
    ("P4", "en", "Documentation requests or questions related to the FAQ."),
    (
        "P4",
        "es",
        "Problemas técnicos menores o errores menores con soluciones alternativas disponibles.",
    ),
    ("P4", "en", "Minor technical problems or minor bugs with workarounds available."),
]


@pytest.mark.parametrize(("expected", "language", "text"), SPEC_EXAMPLES)
def test_spec_example_sentence_gets_its_severity(
    triager: Triager, expected: str, language: str, text: str
) -> None:
    result = triager.triage({"id": "spec", "body": text})
    assert result["severity"] == expected, result["reasons"]
    assert result["language"] == language
    assert result["source"] == "rules"
    assert result["reasons"][0]["decisive"] is True
    assert result["reasons"][0]["evidence"], "a rule decision must show the words it matched"
