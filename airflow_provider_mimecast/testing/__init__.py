"""Test doubles for the Mimecast provider.

The simulator lives in the package :mod:`airflow_provider_mimecast.testing.simulator`; it is not re-exported
here, so that importing the provider's test helpers does not load it.
"""

from __future__ import annotations
