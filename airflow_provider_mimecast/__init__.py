"""Apache Airflow provider for Mimecast's user-import API."""

from __future__ import annotations

__version__ = "0.1.0"
