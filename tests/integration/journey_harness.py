"""Set-up shared by the device journey tests: a real hubd serving some hubs,
a real dpsd that trusts hubd's CA, and the hubs linked into dpsd. No tests.

    class MyTest(HubsAndDpsd, unittest.TestCase):
        @classmethod
        def setUpClass(cls):
            cls.start_hubd([HUB1, HUB2])
            cls.start_dpsd(hub_timeout=5, mqtt=None)   # sets cls.dpsd, cls.svc
            cls.link_hubs({HUB1: 1, HUB2: 1})

tearDownClass stops dpsd, then hubd (exit 0 and no sanitizer report).
"""

import re
import subprocess

from dpsd_harness import Dpsd, binary
from hubd_harness import Hubd


def dpsd_has_mqtt():
    """Whether this build's dpsd has an MQTT listener (--mqtt-listen)."""
    return "--mqtt-listen" in subprocess.run([binary("dpsd"), "--help"], stdout=subprocess.PIPE,
                                             text=True, timeout=30).stdout


def dpsd_mqtt_port(dpsd):
    """The port of the last mqtts listener dpsd printed, or None."""
    port = None
    for line in dpsd.lines:
        m = re.match(r"^mqtts: listening on mqtts://127\.0\.0\.1:(\d+) ", line)
        if m:
            port = int(m.group(1))
    return port


class HubsAndDpsd:
    """Class-level hubd + dpsd for a unittest.TestCase (put it first in the bases)."""

    hubd = None
    dpsd = None

    @classmethod
    def start_hubd(cls, hubs):
        """hubd serving `hubs` as cls.hubd, cleaned up with the class."""
        cls.hubd = Hubd.start_new(hubs=list(hubs))
        cls.addClassCleanup(cls.hubd.cleanup)

    @classmethod
    def start_dpsd(cls, hub_timeout, mqtt=False, extra_args=()):
        """dpsd trusting hubd's CA as cls.dpsd, its service client as cls.svc
        and its MQTT port (None without one) as cls.dps_mqtt_port.
        mqtt: True adds --mqtt-listen 127.0.0.1:0, None adds it when this
        dpsd has the flag (cls.has_mqtt says whether it did), False never."""
        args = ["--hub-ca-file", cls.hubd.ca_file, "--hub-timeout", str(hub_timeout)]
        if mqtt is None:
            cls.has_mqtt = mqtt = dpsd_has_mqtt()
        if mqtt:
            args += ["--mqtt-listen", "127.0.0.1:0"]
        args += list(extra_args)
        cls.dpsd = Dpsd.start_new(extra_args=args)
        cls.addClassCleanup(cls.dpsd.cleanup)
        cls.dps_mqtt_port = dpsd_mqtt_port(cls.dpsd)
        cls.svc = cls.dpsd.client()

    @classmethod
    def link_hub(cls, hub, weight=1, connection_string=None, url=None, **extra):
        """PUT /admin/linkedHubs/hub (hubd's connection string and URL unless
        given); asserts 200 and returns the response."""
        body = {"connectionString": (connection_string if connection_string is not None
                                     else cls.hubd.hub_connection_string(hub)),
                "registryUrl": url if url is not None else cls.hubd.url,
                "allocationWeight": weight}
        body.update(extra)
        r = cls.svc.put("/admin/linkedHubs/" + hub, body)
        assert r.status == 200, r
        return r

    @classmethod
    def link_hubs(cls, weights):
        """Links every hub of {hub: weight} to hubd's registry."""
        for hub, weight in weights.items():
            cls.link_hub(hub, weight)

    @classmethod
    def tearDownClass(cls):
        for d in (cls.dpsd, cls.hubd):
            if d is not None and d.proc is not None:
                d.stop()  # exit 0 and no sanitizer report
