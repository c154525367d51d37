"""PACER's suds speed-ups change nothing but the speed: the SOAP request for a createMany
of datafiles, with suds' schema lookups remembered (icat/schema_lookup.py) and beans made
from a template (icat/beans.py), is byte for byte what unpatched suds sends for python-icat's
own beans. A suds (or python-icat) upgrade that breaks that makes this test fail."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.support.commands import ROOT

#: Run in a process of its own: the patch, once installed, stays for the process.
REQUEST = r"""
import json, sys
import icat
from pacer_celery.icat import schema_lookup
from pacer_celery.icat.beans import BeanMaker
from pacer_celery.icat.changes import reference_to

url, plugin, user, password, patched = sys.argv[1:6]
if patched == "yes":
    schema_lookup.install()
client = icat.Client(url)
client.login(plugin, {"username": user, "password": password})
# The dataset is referred to by id alone on both sides (reference_to: see icat/changes.py).
in_dataset = reference_to(client, client.new("Dataset", id=42, name="d"))
attributes = [dict(name=f"scan_{i}.h5", location=f"/data/{i}", fileSize=i, checksum="adler32:0") for i in range(3)]
if patched == "yes":
    make = BeanMaker(client, "Datafile")
    beans = [make(dataset=in_dataset, **a) for a in attributes]
else:
    beans = [client.new("Datafile", dataset=in_dataset, **a) for a in attributes]
client.set_options(nosend=True)
context = client.service.createMany(client.sessionId, [b.instance for b in beans])
print(json.dumps(context.envelope.decode()))
"""


def request(icat_server: dict, patched: bool) -> str:
    result = subprocess.run(
        [sys.executable, "-c", REQUEST, f"{icat_server['ICAT_SERVER_URL']}/ICATService/ICAT?wsdl",
         icat_server["ICAT_AUTH_PLUGIN"], icat_server["ICAT_AUTH_USERNAME"],
         icat_server["ICAT_AUTH_PASSWORD"], "yes" if patched else "no"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        # suds numbers namespace prefixes in the order of a set of strings: the same hash
        # seed on both sides, or ns0 and ns1 may swap.
        env={**os.environ, "PYTHONHASHSEED": "0"},
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_the_speed_ups_send_the_same_request_bytes(icat_server):
    plain, fast = request(icat_server, patched=False), request(icat_server, patched=True)
    assert "<fileSize>2</fileSize>" in plain and "scan_2.h5" in plain
    # The session id differs between the two logins; everything else must not.
    session = lambda text: text.split("<sessionId>")[1].split("</sessionId>")[0]  # noqa: E731
    assert fast.replace(session(fast), "S") == plain.replace(session(plain), "S")
