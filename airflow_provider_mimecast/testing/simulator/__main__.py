"""``python -m airflow_provider_mimecast.testing.simulator``: run the simulator until Ctrl-C."""

import sys

from .cli import main

sys.exit(main())
