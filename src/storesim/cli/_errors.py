"""Running a typer command so that every user error is one line on stderr and a non-zero exit."""

from __future__ import annotations

import sys
from collections.abc import Sequence

import typer

__all__ = ["UsageError", "command_app", "run_command"]

EXIT_USAGE = 2


def command_app(name: str, help_text: str) -> typer.Typer:
    """A typer app whose errors run_command turns into one line (no rich panels, no tracebacks)."""
    return typer.Typer(
        name=name,
        help=help_text,
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
    )


class UsageError(ValueError):
    """A wrong argument or setting: its message is the one line the user sees."""


def run_command(app: typer.Typer, prog: str, args: Sequence[str] | None = None) -> int:
    # Imported here: the settings and data modules pull in pydantic and pyarrow, and --help should not wait.
    from storesim.data import DatasetError
    from storesim.settings import SettingsError

    command = typer.main.get_command(app)
    try:
        result = command.main(
            args=list(args) if args is not None else None, prog_name=prog, standalone_mode=False
        )
    except typer.Exit as exc:
        return int(exc.exit_code)
    except typer.Abort:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except (UsageError, SettingsError, DatasetError) as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except typer.TyperException as exc:  # click's usage errors, as typer re-exports them
        context = getattr(exc, "ctx", None)
        if type(exc).__name__ == "NoArgsIsHelpError" and context is not None:
            print(context.get_help(), file=sys.stderr)
        else:
            message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
            print(f"{prog}: error: {message}", file=sys.stderr)
        return EXIT_USAGE
    return result if isinstance(result, int) else 0
