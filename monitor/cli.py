"""One entry point: `monitor <command>`; each command lives in its own module."""

from __future__ import annotations

import importlib
import sys

#: command -> (module, function, one-line help). Modules are imported lazily so that
#: `monitor simulate` never imports Kafka.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "run": ("monitor.local", "main", "the main job: worker + embedded broker + demo feed when KAFKA_BROKER is unset"),
    "worker": ("monitor.stream.worker", "main", "run the Kafka worker (consumer group, changelog-backed case table, timers)"),
    "demo": ("monitor.local", "demo_main", "produce the demo feed of realistic cases to the input topics"),
    "simulate": ("monitor.simulate", "main", "drive the engine on a virtual clock from a JSONL file"),
    "policies": ("monitor.policies_cli", "main", "print the policy catalog as a table"),
    "topics": ("monitor.stream.topics", "main", "topics apply: create missing topics, report drift"),
    "notify": ("monitor.notify.service", "main", "deliver near-breach and breach events to people"),
}


def _usage() -> str:
    width = max(len(name) for name in COMMANDS)
    lines = ["usage: monitor <command> [options]", "", "commands:"]
    lines += [f"  {name.ljust(width)}  {help_}" for name, (_, _, help_) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Dispatch `monitor <command> ...` to the command's module."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in {"-h", "--help", "help"}:
        print(_usage())
        return 0
    name, rest = args[0], args[1:]
    if name not in COMMANDS:
        print(f"monitor: unknown command {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module_name, func_name, _ = COMMANDS[name]
    func = getattr(importlib.import_module(module_name), func_name)
    result = func(rest)
    return int(result or 0)
