"""Writes stores.storesim.io.yaml, the CustomResourceDefinition of Store, from storesim.operator.store_crd()
(itself generated from the StoreSpec model). Checked in because Helm installs crds/ before the templates;
tests/k8s/test_crd.py checks that the file is what this script writes:

    .venv/bin/python chart/crds/generate.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

from storesim.operator import store_crd

HERE = Path(__file__).resolve().parent
FILE = HERE / "stores.storesim.io.yaml"
HEADER = """\
# Generated from StoreSpec (src/storesim/world/_store_specs.py) by storesim.operator.store_crd(): do not edit.
# Regenerate with:  .venv/bin/python chart/crds/generate.py
"""


def render() -> str:
    """The file's text: the header, then the CRD as block YAML, stable byte for byte."""
    return HEADER + yaml.safe_dump(store_crd(), sort_keys=False, width=110, allow_unicode=True)


def main() -> None:
    FILE.write_text(render(), encoding="utf-8")
    print(FILE, file=sys.stderr)


if __name__ == "__main__":
    main()
