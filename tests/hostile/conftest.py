"""The hostile tests reuse the flows' ICAT, reference data, checker and in-process worker.

The checker's queries name objects by the corpus' text (``R&amp;D``, carriage returns):
they must reach ICAT exactly, as PACER's own requests do (see pacer_celery/icat/soap_text.py).
"""

from pacer_celery.icat import soap_text
from tests.flows.conftest import checker, icat_server, reference_data, worker  # noqa: F401 - fixtures

soap_text.install()
