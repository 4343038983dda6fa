"""mkdocs hook: serves the repository's own result files (run log, benchmark tables) as pages.

`experiments/RESULTS.md` and `benchmarks/README.md` (with the figures under `benchmarks/results/`)
stay where the scripts write them; the site shows them at the same relative paths, so their
links to each other resolve on the site as they do in the repository.
"""

import pathlib

from mkdocs.structure.files import File, Files

ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED = ("experiments/RESULTS.md", "benchmarks/README.md", "benchmarks/results/*.png")


def on_files(files: Files, config) -> Files:
    """Adds the shared repository files to the site's files, at their repository paths."""
    for pattern in SHARED:
        for path in sorted(ROOT.glob(pattern)):
            relative = path.relative_to(ROOT).as_posix()
            files.append(File.generated(config, relative, abs_src_path=str(path)))
    return files
