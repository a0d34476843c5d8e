"""Model commands: train, evaluate, compare, promote, backtest and import-labels.

Thin layers over ``sevtriage.model``, ``sevtriage.evaluate`` and ``sevtriage.importers``. Errors
are ``SevtriageError`` (the group prints one line and exits 2); ``--json`` prints the report dict.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click

from sevtriage import evaluate as ev
from sevtriage.cli.options import model_option, no_model_option, rules_dir_option
from sevtriage.config import load_rules
from sevtriage.errors import ConfigError, ConfigProblem
from sevtriage.importers import (
    ImportSpec,
    build_mapping,
    import_file,
    load_mapping_file,
    read_labelled,
)
from sevtriage.model import (
    LABELS,
    SeverityModel,
    default_model_path,
    file_sha256,
    install_model,
    records_sha256,
    save_model,
    train_model,
)

REPO = Path(__file__).resolve().parents[3]
DEFAULT_HELDOUT = REPO / "data" / "test.jsonl"
F = TypeVar("F", bound=Callable[..., Any])

_existing_file = click.Path(exists=True, dir_okay=False, path_type=Path)
_json_option = click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")


def _import_options(func: F) -> F:
    """Options that read another helpdesk's export (label column and label mapping)."""
    for option in reversed(
        [
            click.option(
                "--label-column",
                default="label",
                show_default=True,
                help="Column holding the priority/severity.",
            ),
            click.option(
                "--preset",
                "presets",
                multiple=True,
                help="Label mapping preset: urgency (urgent/high/normal/low) or impact "
                "(critical/major/minor/trivial).",
            ),
            click.option(
                "--map",
                "pairs",
                multiple=True,
                metavar="VALUE=P1",
                help="Map one label value to P1-P4 (repeatable).",
            ),
            click.option(
                "--mapping-file",
                type=_existing_file,
                help="JSON/YAML object of label value: P1-P4.",
            ),
            click.option(
                "--subject-column",
                default="subject",
                show_default=True,
                help="Column holding the subject.",
            ),
            click.option(
                "--body-column", default="body", show_default=True, help="Column holding the body."
            ),
            click.option(
                "--id-column", default="id", show_default=True, help="Column holding the ticket id."
            ),
        ]
    ):
        func = option(func)
    return func


def _spec(options: Mapping[str, Any]) -> ImportSpec:
    mapping = build_mapping(options["presets"], options["pairs"])
    if options["mapping_file"] is not None:
        mapping = {**load_mapping_file(options["mapping_file"]), **mapping}
    return ImportSpec(
        label_column=options["label_column"],
        mapping=mapping,
        subject_column=options["subject_column"],
        body_column=options["body_column"],
        id_column=options["id_column"],
    )


def _import_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    keys = (
        "label_column",
        "presets",
        "pairs",
        "mapping_file",
        "subject_column",
        "body_column",
        "id_column",
    )
    return {k: kwargs.pop(k) for k in keys}


def _parse_params(pairs: Sequence[str]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep:
            raise ConfigError([ConfigProblem("--param", pair, "expected KEY=VALUE (JSON value)")])
        try:
            params[key.strip()] = json.loads(raw)
        except ValueError:
            params[key.strip()] = raw
    return params


def _load(path: Path | None) -> SeverityModel:
    return SeverityModel.load(path if path is not None else default_model_path())


def _pct(value: float) -> str:
    return f"{value:6.3f}"


def format_systems(systems: Mapping[str, Mapping[str, Any]]) -> str:
    """Per-class precision/recall/F1 per system side by side, then the summary and confusions."""
    names = list(systems)
    head = "label   " + "".join(f"{n[:22]:>24}" for n in names)
    sub = "        " + "".join(f"{'P':>8}{'R':>8}{'F1':>8}" for _ in names)
    lines = [head, sub]
    for label in LABELS:
        cells = "".join(
            f"{_pct(systems[n]['per_class'][label]['precision']):>8}"
            f"{_pct(systems[n]['per_class'][label]['recall']):>8}"
            f"{_pct(systems[n]['per_class'][label]['f1']):>8}"
            for n in names
        )
        lines.append(f"{label:<8}{cells}")
    for metric in ("macro_f1", "p1_recall", "accuracy"):
        lines.append(
            f"{metric:<10}" + "".join(f"{_pct(systems[n][metric]):>24}" for n in names)[2:]
        )
    for n in names:
        lines.append(f"\nconfusion [{n}] (rows: true, columns: predicted)")
        lines.append("      " + "".join(f"{label:>6}" for label in LABELS))
        for label, row in zip(LABELS, systems[n]["confusion"], strict=True):
            lines.append(f"{label:<6}" + "".join(f"{v:>6}" for v in row))
    return "\n".join(lines)


def _shown(path: Path) -> str:
    """``path`` as a card records it: relative to the project when inside it (no machine's
    folders in a committed card)."""
    resolved = path.resolve()
    return str(resolved.relative_to(REPO)) if resolved.is_relative_to(REPO) else str(path)


def _heldout_section(
    pipeline_model: SeverityModel, path: Path, rules_dir: Path | None
) -> dict[str, Any]:
    records = read_labelled([path])
    report = ev.evaluate_systems(records, pipeline_model, rules_dir)
    return {
        "data": _shown(path),
        "sha256": records_sha256(records),
        "size": len(records),
        "metrics": report["systems"],
    }


@click.command()
@click.argument("data", nargs=-1, required=True, type=_existing_file)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=REPO / "models" / "candidate.joblib",
    show_default="models/candidate.joblib",
    help="Model file to write; its card goes beside it as <name>.card.json.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
@click.option(
    "--folds",
    type=click.IntRange(0),
    default=5,
    show_default=True,
    help="Cross-validation folds for validation metrics and thresholds (0: none).",
)
@click.option(
    "--param",
    "param_pairs",
    multiple=True,
    metavar="KEY=VALUE",
    help="Pipeline parameter (see sevtriage.model.DEFAULT_PARAMS), e.g. C=3.",
)
@click.option(
    "--holdout",
    type=_existing_file,
    help="Held-out labelled file scored into the card (default: data/test.jsonl).",
)
@click.option("--no-holdout", is_flag=True, help="Do not score a held-out file.")
@rules_dir_option
@_import_options
@click.option("--quiet", is_flag=True, help="No progress bar.")
def train(
    data: tuple[Path, ...],
    out: Path,
    seed: int,
    folds: int,
    param_pairs: tuple[str, ...],
    holdout: Path | None,
    no_holdout: bool,
    rules_dir: Path | None,
    quiet: bool,
    **kwargs: Any,
) -> None:
    """Train the fallback model on labelled DATA files (later files override earlier ids).

    DATA are JSONL like data/train.jsonl or reviewed overrides, or helpdesk CSV/JSON exports
    (with --label-column and --preset/--map). Writes OUT and OUT's card with the data hash,
    parameters, validation metrics, review thresholds and held-out metrics.
    """
    spec = _spec(_import_kwargs(kwargs))
    records = read_labelled(list(data), spec, groups=True)
    pipeline, card = train_model(
        records,
        seed=seed,
        params=_parse_params(param_pairs),
        progress=not quiet,
        folds=folds,
        config=load_rules(rules_dir),
    )
    card["training_data"]["files"] = [str(p) for p in data]
    heldout = (
        None
        if no_holdout
        else (holdout or (DEFAULT_HELDOUT if DEFAULT_HELDOUT.is_file() else None))
    )
    if heldout is not None and heldout.resolve() not in {p.resolve() for p in data}:
        card["held_out"] = _heldout_section(SeverityModel(pipeline, card), heldout, rules_dir)
    model = save_model(pipeline, card, out)
    click.echo(
        f"wrote {out} ({model.version}, {out.stat().st_size / 1024:.0f} KB, {len(records)} tickets)"
    )
    if "held_out" in model.card:
        systems = model.card["held_out"]["metrics"]
        click.echo(
            " ".join(
                f"{n}: macro-F1 {s['macro_f1']:.3f} P1-recall {s['p1_recall']:.3f};"
                for n, s in systems.items()
            )
        )


@click.command("evaluate")
@click.argument("data", type=_existing_file)
@model_option
@no_model_option
@click.option(
    "--plot",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the confusion matrices as a PNG here.",
)
@rules_dir_option
@_json_option
@_import_options
def evaluate(
    data: Path,
    model_path: Path | None,
    no_model: bool,
    plot: Path | None,
    rules_dir: Path | None,
    as_json: bool,
    **kwargs: Any,
) -> None:
    """Score rules-only, model-only and the combined pipeline on labelled DATA, side by side:
    per-class precision/recall/F1, macro-F1, P1 recall and confusion matrices."""
    records = read_labelled([data], _spec(_import_kwargs(kwargs)))
    model = None if no_model else _load(model_path)
    report = ev.evaluate_systems(records, model, rules_dir)
    report["data"] = str(data)
    if plot is not None:
        ev.plot_confusions(report["systems"], plot)
        report["plot"] = str(plot)
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    click.echo(f"{data}: {report['n']} tickets, model {report['model']}")
    click.echo(format_systems(report["systems"]))


@click.command()
@click.argument("data", type=_existing_file)
@click.option("--candidate", type=_existing_file, required=True, help="The new model file.")
@click.option(
    "--baseline",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The model in service (default: models/default.joblib).",
)
@click.option(
    "--show",
    type=click.IntRange(0),
    default=20,
    show_default=True,
    help="How many changed tickets to list (text output).",
)
@rules_dir_option
@_json_option
def compare(
    data: Path,
    candidate: Path,
    baseline: Path | None,
    show: int,
    rules_dir: Path | None,
    as_json: bool,
) -> None:
    """Compare a CANDIDATE model with the BASELINE on labelled DATA: metrics side by side and
    the tickets whose (combined) severity would change."""
    records = read_labelled([data])
    report = ev.compare_models(records, _load(candidate), _load(baseline), rules_dir)
    report["gate_problems"] = ev.promotion_gate(report)
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    click.echo(
        f"{data}: {report['n']} tickets; baseline {report['baseline']}, "
        f"candidate {report['candidate']}"
    )
    click.echo(format_systems(report["systems"]))
    click.echo(
        f"\n{len(report['changes'])} ticket(s) change severity "
        f"({report['changes_fixed']} now right, {report['changes_broken']} now wrong):"
    )
    for change in report["changes"][:show]:
        click.echo(
            f"  {change['id']}: {change['baseline']} -> {change['candidate']} "
            f"(label {change['label']})"
        )
    verdict = "; ".join(report["gate_problems"]) or "not worse on macro-F1 and P1 recall"
    click.echo(f"promotion gate: {verdict}")


@click.command()
@click.argument("new", type=_existing_file)
@click.option(
    "--data",
    type=_existing_file,
    help="Held-out labelled data for the gate (default: data/test.jsonl).",
)
@click.option(
    "--target",
    type=click.Path(dir_okay=False, path_type=Path),
    default=REPO / "models" / "default.joblib",
    show_default="models/default.joblib",
    help="The model in service, replaced on promotion.",
)
@click.option("--force", is_flag=True, help="Promote even if the gate fails (needs --reason).")
@click.option("--reason", help="Why (required with --force; recorded in the card's history).")
@rules_dir_option
def promote(
    new: Path,
    data: Path | None,
    target: Path,
    force: bool,
    reason: str | None,
    rules_dir: Path | None,
) -> None:
    """Promote model NEW to the model in service (models/default.*) when it is not worse on
    macro-F1 and P1 recall (model-only and combined) on the held-out split; or --force --reason."""
    if force and not (reason and reason.strip()):
        raise click.UsageError('--force needs --reason "..." (it is recorded in the card)')
    heldout = data or DEFAULT_HELDOUT
    candidate = _load(new)
    entry: dict[str, Any] = {
        "event": "promoted",
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "from": _shown(new),
        "held_out": _shown(heldout),
        "forced": force,
        "reason": reason,
    }
    if target.is_file():
        baseline = _load(target)
        records = read_labelled([heldout])
        comparison = ev.compare_models(records, candidate, baseline, rules_dir)
        problems = ev.promotion_gate(comparison)
        entry.update(
            replaced=baseline.version,
            gate_problems=problems,
            metrics={
                k: {m: v[m] for m in ev.GATE_METRICS} for k, v in comparison["systems"].items()
            },
        )
        if problems and not force:
            raise click.ClickException(
                f'not promoted: {"; ".join(problems)} (use --force --reason "..." to override)'
            )
    else:
        entry["replaced"] = None
    if file_sha256(new) == (file_sha256(target) if target.is_file() else None):
        click.echo(f"{new} is already the model at {target}")
        return
    installed = install_model(new, target, entry)
    click.echo(f"promoted {installed.version} to {target}" + (" (forced)" if force else ""))


@click.command()
@click.argument("tickets", type=_existing_file)
@click.option(
    "--rules",
    "rules",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="The changed rules folder (default: the current rules).",
)
@click.option(
    "--model",
    "model_path",
    type=_existing_file,
    help="The changed model (default: the current model).",
)
@click.option("--no-model", is_flag=True, help="The changed configuration has no model.")
@click.option(
    "--current-rules",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="The current rules folder (default: $SEVTRIAGE_RULES_DIR or rules/).",
)
@click.option(
    "--current-model",
    type=_existing_file,
    help="The current model (default: $SEVTRIAGE_MODEL or models/default.joblib).",
)
@click.option(
    "--sla",
    "sla_dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="A rules folder whose sla/ holds the changed SLA policies (default: --rules).",
)
@_json_option
def backtest(
    tickets: Path,
    rules: Path | None,
    model_path: Path | None,
    no_model: bool,
    current_rules: Path | None,
    current_model: Path | None,
    sla_dir: Path | None,
    as_json: bool,
) -> None:
    """Replay past labelled TICKETS under a changed configuration (--rules, --model, --sla):
    severity mix, agreement with the labels and with the current configuration, deadlines, and
    the share that would have breached (tickets with first_response_at / resolved_at)."""
    records = read_labelled([tickets])
    changed_model = None if no_model else _load(model_path)
    report = ev.backtest(
        records, rules, changed_model, current_rules, _load(current_model), sla_dir=sla_dir
    )
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    mix = report["severity_mix"]
    click.echo(f"{tickets}: {report['n']} tickets")
    click.echo(f"{'':<10}{'labels':>10}{'current':>10}{'changed':>10}")
    for label in LABELS:
        click.echo(
            f"{label:<10}"
            + "".join(f"{mix[k][label]['share']:>10.1%}" for k in ("labels", "current", "changed"))
        )
    agreement = report["agreement_with_labels"]
    for name in ("current", "changed"):
        click.echo(
            f"{name}: accuracy {agreement[name]['accuracy']:.3f}, "
            f"macro-F1 {agreement[name]['macro_f1']:.3f}, "
            f"P1 recall {agreement[name]['p1_recall']:.3f}"
        )
    same = report["agreement_with_current"]
    click.echo(
        f"agreement with current: {same['share']:.1%} "
        f"({same['changed_tickets']} changed: {same['transitions']})"
    )
    for name in ("current", "changed"):
        sla = report["sla"][name]
        late = ", ".join(
            f"{target} {v['breached']}/{v['checked']}" for target, v in sla["breached"].items()
        )
        click.echo(
            f"SLA {name} ({sla['policy_version']}): {sla['with_sla']} with an SLA, mean "
            f"{sla['mean_hours_to_resolution_due']:.1f} h to resolution due; would breach: {late}"
        )


@click.command("import-labels")
@click.argument("sources", nargs=-1, required=True, type=_existing_file)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="JSONL file to write (the format of data/train.jsonl).",
)
@_import_options
def import_labels(sources: tuple[Path, ...], output: Path, **kwargs: Any) -> None:
    """Convert labelled helpdesk exports (CSV/JSON/JSONL) to sevtriage's JSONL. Bad rows (an
    unknown label value, no text) are printed as error records; exit 1 when there were any."""
    spec = _spec(_import_kwargs(kwargs))
    errors = 0
    with open(output, "w", encoding="utf-8") as out:
        for source in sources:
            records, bad = import_file(source, spec)
            for record in records:
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
            for error in bad:
                click.echo(json.dumps(error, ensure_ascii=False), err=True)
            errors += len(bad)
            click.echo(f"{source}: {len(records)} imported, {len(bad)} bad", err=True)
    sys.exit(1 if errors else 0)


@click.command("export-linear")
@click.argument("model", type=_existing_file)
def export_linear(model: Path) -> None:
    """Write MODEL's data form (MODEL.linear.zip) and record its sha256 in the card, so that
    classify and the service load it without unpickling or scikit-learn. Models saved by
    `sevtriage train` have it already; this is for older ones."""
    from sevtriage.model import add_linear_form
    from sevtriage.modelfile import linear_path

    if not add_linear_form(model):
        raise click.ClickException(f"{model}: this pipeline has no data form; it is served as is")
    click.echo(f"wrote {linear_path(model)} and its sha256 in the card")


COMMANDS = (train, evaluate, compare, promote, backtest, import_labels, export_linear)
