"""A Celery worker for the fault tests (tests/test_faults.py), started as a subprocess.

With FAULT_SLOW=module:function, that function first writes FAULT_MARK and sleeps
FAULT_SLEEP seconds, so the test can kill the worker in the middle of the task.
"""

import importlib
import os
import sys
import time

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ocsge_web.settings")
django.setup()

target = os.environ.get("FAULT_SLOW")
if target:
    module_name, name = target.split(":")
    module = importlib.import_module(module_name)
    real = getattr(module, name)

    def slow(*args, **kwargs):
        with open(os.environ["FAULT_MARK"], "w") as mark:
            mark.write("inside")
        time.sleep(float(os.environ.get("FAULT_SLEEP", "60")))
        return real(*args, **kwargs)

    setattr(module, name, slow)

from celery.__main__ import main  # noqa: E402

sys.argv = [
    "celery",
    "-A",
    "ocsge_web",
    "worker",
    "-Q",
    "gpu,default",
    "--pool",
    "solo",
    "-l",
    "info",
    "--without-gossip",
    "--without-mingle",
    "--without-heartbeat",
]
main()
