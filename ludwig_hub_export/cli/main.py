"""Command line: a thin layer over the workflows. `parser` holds the flags, `commands` what each command does;
here, errors become exit codes and Ctrl-C a word on what was kept."""

from __future__ import annotations

import json
import sys

from ..errors import EXIT_OK, EXIT_USAGE, ExportError
from .parser import build_parser


# What Ctrl-C leaves, and that the same command resumes from it.
_INTERRUPTED = {
    **dict.fromkeys(("push", "upload"), "interrupted: nothing on the Hub changed unless a commit was reported "
                    "above; files sent so far are kept by the Hub, so the same command resumes and sends only the rest"),
    "pull": "interrupted: files verified so far stay in DEST's staging area; the same command resumes and "
            "downloads only the rest",
}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return func(args)
    except ExportError as e:
        print(f"error: {e}", file=sys.stderr)
        if getattr(args, "json", False) or getattr(args, "format", None) == "json":
            print(json.dumps({"error": e.message, "remedy": e.remedy, "exit_code": e.exit_code}))
        return e.exit_code
    except KeyboardInterrupt:
        print(_INTERRUPTED.get(getattr(args, "command", None), "interrupted"), file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
