"""``synthgen``: dataset tools. Each subcommand lives in ``synthgen/cli/<name>.py`` with
``add_arguments(parser)`` and ``run(args) -> int``; modules are imported only when their command runs, so
``synthgen info`` starts fast and one broken command cannot take the others down.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from synthgen.errors import SynthgenError
from synthgen.extras import quiet_import_noise

COMMANDS = {
    "validate": "check a dataset: schema, every video and audio decodes, labels agree",
    "preview": "write an MP4 and a PNG contact sheet of a clip (tracks, beats, camera path)",
    "lint": "flag ambiguous reference/target pairs, with per-clip reasons",
    "export": "export a dataset for other trainers (ltx-trainer: MP4/WAV + dataset.jsonl)",
    "adherence": "score videos (<clip_id>.mp4) against the dataset's exact labels, per control job",
    "info": "versions of synthgen and its dependencies, and which render engines work here",
}


def build_parser(command: str | None) -> argparse.ArgumentParser:
    """The parser; only ``command``'s module is imported to add its arguments."""
    parser = argparse.ArgumentParser(prog="synthgen", description="synthgen dataset tools")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, help_text in COMMANDS.items():
        command_parser = sub.add_parser(name, help=help_text, description=help_text)
        if name == command:
            importlib.import_module(f"synthgen.cli.{name}").add_arguments(command_parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``synthgen`` console script; returns the exit code."""
    quiet_import_noise()
    argv = sys.argv[1:] if argv is None else argv
    command = next((a for a in argv if not a.startswith("-")), None)
    args = build_parser(command if command in COMMANDS else None).parse_args(argv)
    module = importlib.import_module(f"synthgen.cli.{args.command}")
    try:
        return int(module.run(args))
    except SynthgenError as err:
        if os.environ.get("SYNTHGEN_FULL_ERROR") or os.environ.get("HYDRA_FULL_ERROR"):
            raise
        print(f"synthgen {args.command}: error: {err}", file=sys.stderr)
        return err.exit_code
    except OSError as err:
        # A path the user gave that cannot be written (a file where a folder must be, /proc, a full disk).
        if os.environ.get("SYNTHGEN_FULL_ERROR") or os.environ.get("HYDRA_FULL_ERROR"):
            raise
        where = f" {err.filename}" if err.filename else ""
        print(f"synthgen {args.command}: error:{where}: {err.strerror or err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
