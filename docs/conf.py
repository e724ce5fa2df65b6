"""Sphinx configuration; build with: python -m sphinx -W -b html docs docs/_build/html"""

import os
import sys

sys.path.insert(0, os.path.abspath(".."))

import usdtscan  # noqa: E402

project = "usdtscan"
author = "usdtscan developers"
release = usdtscan.__version__
version = release
extensions = ["sphinx.ext.autodoc"]
autodoc_member_order = "bysource"
autodoc_typehints = "description"
exclude_patterns = ["_build"]
html_theme = "alabaster"
nitpicky = False
