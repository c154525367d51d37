"""The dataset message the benches measure: 10 datafiles, 3 parameters of the reference
data's types and a sample, as the speed issue's mix has it."""

from __future__ import annotations

from tests.flows.conftest import datafile, dataset_message


def dataset(proposal: str, name: str) -> dict:
    return dataset_message(
        proposal, name,
        parameters=[{"name": "energy", "units": "keV", "value": 8.5}, {"name": "scan_type", "units": "N/A", "value": "ascan"},
                    {"name": "temperature", "units": "K", "value": 295.0}],
        datafiles=[datafile(f"{name}_{i:02d}.h5", size=1000 + i) for i in range(10)],
    )
