"""``synthgen lint PATH``: flag ambiguous reference/target pairs, clip by clip, and write a JSON report.

Thresholds are the packaged ``conf/lint/default.yaml``, overridden by the dataset's own config
(``control.lint`` of the config it was generated from), then by ``--thresholds FILE`` (JSON or YAML
mapping), then by flags such as ``--min-motion-px 1.5``.
Exit code: 0 when no clip is rejected, 1 when some clip has an error finding (or, with ``--strict``, any
finding), 2 on unreadable input.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from synthgen.controls.rules import LintThresholds
from synthgen.dataset.lint import lint_dataset, packaged_thresholds, parse_thresholds, rule_names
from synthgen.dataset.store import DatasetStore
from synthgen.errors import ConfigError
from synthgen.fileio import atomic_write_text, check_output_file


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``synthgen lint``: the dataset path, report location and one flag per threshold."""
    parser.add_argument("path", help="dataset folder (or URI) written by synthgen-generate")
    parser.add_argument(
        "--report",
        default=None,
        help="JSON report path (default: PATH/lint_report.json); an existing file needs --overwrite",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --report file")
    parser.add_argument("--thresholds", default=None, help="JSON/YAML file of thresholds (control.lint keys)")
    parser.add_argument("--strict", action="store_true", help="warnings also make the exit code 1")
    parser.add_argument("--quiet", action="store_true", help="print only the summary line")
    packaged = packaged_thresholds()
    for name, field in LintThresholds.model_fields.items():
        if name == "warn_only":
            parser.add_argument(
                "--warn-only",
                nargs="*",
                default=None,
                choices=rule_names(),
                help="rules reported as warnings only",
            )
            continue
        kind = int if field.annotation is int else float
        parser.add_argument(
            _flag(name),
            type=kind,
            default=None,
            dest=name,
            help=f"{field.description} (packaged: {packaged.get(name)})",
        )


def _dataset_thresholds(path: str) -> dict[str, Any]:
    """``control.lint`` of the config the dataset was generated from ({} when it records none)."""
    control = DatasetStore(path).config().get("control", {})
    lint = control.get("lint", {}) if isinstance(control, dict) else {}
    return dict(lint) if isinstance(lint, dict) else {}


def _file_thresholds(path: str) -> dict[str, Any]:
    text = Path(path).read_text(encoding="utf-8") if Path(path).is_file() else None
    if text is None:
        raise ConfigError(f"--thresholds={path!r}: no such file")
    try:
        if path.endswith((".yaml", ".yml")):
            from omegaconf import OmegaConf

            loaded = OmegaConf.to_container(OmegaConf.create(text))
        else:
            loaded = json.loads(text)
    except Exception as err:
        raise ConfigError(f"--thresholds={path!r}: unreadable ({str(err).splitlines()[0]})") from None
    if not isinstance(loaded, dict):
        raise ConfigError(f"--thresholds={path!r}: must hold a mapping of threshold names to values")
    return {str(k): v for k, v in loaded.items()}


def resolve_thresholds(args: argparse.Namespace) -> LintThresholds:
    """Packaged defaults, then the dataset's config, then ``--thresholds`` file, then flags (later wins)."""
    values = {**packaged_thresholds(), **_dataset_thresholds(args.path)}
    if args.thresholds:
        values.update(_file_thresholds(args.thresholds))
    for name in LintThresholds.model_fields:
        flag_value = getattr(args, name, None)
        if flag_value is not None:
            values[name] = tuple(flag_value) if name == "warn_only" else flag_value
    return parse_thresholds(values)


def _report_path(args: argparse.Namespace) -> Path:
    """Where the report goes, checked before any work: the dataset's own ``lint_report.json`` is replaced on
    every run; any other existing path only with ``--overwrite``, and never a folder or an unwritable place."""
    if args.report is None:
        return Path(args.path) / "lint_report.json"
    return check_output_file(args.report, "--report", overwrite=args.overwrite)


def run(args: argparse.Namespace) -> int:
    """Lint the dataset, print one line per finding and a summary, write the report; return the exit code."""
    report_path = _report_path(args)
    thresholds = resolve_thresholds(args)
    report = lint_dataset(args.path, thresholds)
    atomic_write_text(report_path, report.to_json(args.path) + "\n")
    if not args.quiet:
        for finding in report.findings:
            print(f"{finding.clip_id}: {finding.level}: {finding.rule}: {finding.message}")
    rejected = len(report.rejected_clip_ids())
    print(
        f"synthgen lint: {report.num_clips} clips, {rejected} rejected, {report.num_errors} errors, "
        f"{report.num_warnings} warnings; report: {report_path}",
        file=sys.stderr,
    )
    if report.num_errors or (args.strict and report.num_warnings):
        return 1
    return 0
