"""Sphinx configuration for the airflow-provider-mimecast documentation.

Build: ``sphinx-build -W -q docs docs/_build/html`` (warnings are errors, so a stale autodoc target, a broken
reference or an example marker that moved fails the build).
"""

from __future__ import annotations

import os
import tempfile

# Autodoc imports the provider, which imports Airflow, which reads (and may write) its configuration on
# import: point it at a throwaway home so a docs build touches neither the repository nor ~/airflow.
os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="mimecast-docs-airflow-")
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")

from airflow_provider_mimecast import __version__

project = "airflow-provider-mimecast"
author = "airflow-provider-mimecast contributors"
copyright = "airflow-provider-mimecast contributors"
version = release = __version__

extensions = [
    "sphinx.ext.autodoc",
    "myst_parser",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build"]

# Signatures stay readable; the types go into the parameter lists.
autodoc_typehints = "description"
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "show-inheritance": True}

html_theme = "furo"
html_title = f"Mimecast provider for Apache Airflow {release}"
