"""README's layout names every module, and only files that exist; docs links resolve."""
import glob
import os
import re

from conftest import ROOT


def read(rel):
    with open(os.path.join(ROOT, rel), encoding="utf-8") as f:
        return f.read()


def test_readme_layout_matches_the_tree():
    block = read("README.md").split("## Layout", 1)[1].split("```")[1]
    listed = [line.split()[0] for line in block.strip().splitlines() if line.strip()]
    assert [p for p in listed if not os.path.exists(os.path.join(ROOT, p))] == []
    modules = [os.path.relpath(f, ROOT) for pattern in
               ("electra_tf/**/*.py", "finetune/**/*.py", "data_prep/*.py", "benchmarks/*.py")
               for f in glob.glob(os.path.join(ROOT, pattern), recursive=True)
               if not f.endswith("__init__.py")]
    unlisted = [m for m in modules if m not in listed
                and not any(p.endswith("/") and m.startswith(p) for p in listed)]
    assert unlisted == []


def test_markdown_links_resolve():
    for page in ["README.md"] + sorted(os.path.relpath(p, ROOT) for p in
                                       glob.glob(os.path.join(ROOT, "docs", "*.md"))):
        here = os.path.dirname(os.path.join(ROOT, page))
        for target in re.findall(r"\]\(([^)#]+)\)", read(page)):
            if "://" not in target:
                assert os.path.exists(os.path.join(here, target)), f"{page}: {target}"
