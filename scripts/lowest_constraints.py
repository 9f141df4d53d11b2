"""Print pip constraints pinning every direct dependency to its lowest allowed version.

`make test-lowest` installs with them, so that each lower bound in pyproject.toml is one the
code has been tested with (transitive dependencies resolve as usual).
"""

import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        requirements += extra
    for requirement in requirements:
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?\s*>=\s*([^,;\s]+).*", requirement)
        if match is None:
            sys.exit(f"no lower bound in {requirement!r}: every dependency needs one")
        print(f"{match[1]}=={match[2]}")


if __name__ == "__main__":
    main()
