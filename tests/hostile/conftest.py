"""The hostile tests reuse the flows' ICAT, reference data, checker and in-process worker."""

from tests.flows.conftest import checker, icat_server, reference_data, worker  # noqa: F401 - fixtures
