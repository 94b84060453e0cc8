"""One entry point: `monitor <command>`; each command lives in its own module."""

from __future__ import annotations

import importlib
import sys

#: command -> (module, function, one-line help). Modules are imported lazily so that
#: `monitor simulate` never imports Kafka.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "run": ("monitor.local", "main", "the main job: worker + demo feed, on an embedded broker by default"),
    "worker": ("monitor.stream.service", "main", "the SLA worker: input topics in, SLA events and metrics out"),
    "demo": ("monitor.local", "demo_main", "only the demo feed: realistic cases to the input topics"),
    "simulate": ("monitor.simulate", "main", "run the engine on a virtual clock over a JSONL file of events"),
    "policies": ("monitor.policies_cli", "main", "print the policy catalog as a table"),
    "topics": ("monitor.runtime.topics", "main", "topics apply: create missing topics of every app, report drift"),
    "notify": ("monitor.notify.service", "main", "deliver SLA events to people (Slack, e-mail, PagerDuty, webhooks)"),
}


def version() -> str:
    """The installed distribution's version (pyproject takes it from monitor.__version__)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    from monitor import __version__

    try:
        return dist_version("sla-monitor")
    except PackageNotFoundError:  # running from a checkout that was never installed
        return __version__


def _usage() -> str:
    options = {"--version": "print the version and exit", "--help": "this list"}
    width = max(len(name) for name in [*COMMANDS, *options])
    lines = ["usage: monitor <command> [options]   (monitor <command> --help for its options)", "",
             "commands:"]
    lines += [f"  {name.ljust(width)}  {help_}" for name, (_, _, help_) in COMMANDS.items()]
    lines += ["", "options:"] + [f"  {name.ljust(width)}  {help_}" for name, help_ in options.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Dispatch `monitor <command> ...` to the command's module."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in {"-h", "--help"}:
        print(_usage())
        return 0
    if args[0] in {"-V", "--version"}:
        print(f"monitor (sla-monitor) {version()}")
        return 0
    if args[0] == "help":   # `monitor help <command>` = `monitor <command> --help`
        if len(args) == 1:
            print(_usage())
            return 0
        args = [args[1], "--help"]
    name, rest = args[0], args[1:]
    if name not in COMMANDS:
        print(f"monitor: unknown command {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module_name, func_name, _ = COMMANDS[name]
    func = getattr(importlib.import_module(module_name), func_name)
    result = func(rest)
    return int(result or 0)
