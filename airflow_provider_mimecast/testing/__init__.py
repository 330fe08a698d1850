"""Test doubles for the Mimecast provider.

The simulator lives in :mod:`airflow_provider_mimecast.testing.simulator`; it is not re-exported here so that
``python -m airflow_provider_mimecast.testing.simulator`` does not import the module twice.
"""

from __future__ import annotations
