"""Build hook: ship topics/ (the one source of truth for topic specs and schemas) inside the wheel.

Everything else about the package is declared in pyproject.toml. topics/ stays at the top of the
repository, where the deploy files, docs and other services read it; a wheel (and `pip install .`)
gets a copy at monitor/_topics, which `monitor.runtime.topics.topics_dir()` finds. Editable
installs read topics/ in place, so there is never a second copy to keep in step.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

TOPICS = Path(__file__).resolve().parent / "topics"


class BuildPyWithTopics(build_py):
    """build_py that also copies topics/*.toml and topics/schemas/*.json to monitor/_topics."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        target = Path(self.build_lib) / "monitor" / "_topics"
        for source in [*TOPICS.glob("*.toml"), *TOPICS.glob("schemas/*.json")]:
            destination = target / source.relative_to(TOPICS)
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, destination)


setup(cmdclass={"build_py": BuildPyWithTopics})
