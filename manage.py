#!/usr/bin/env python
import gc
import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ocsge_web.settings")
    from django.core.management import execute_from_command_line

    try:
        execute_from_command_line(sys.argv)
    finally:
        # The interpreter's last garbage collections walk every object left (some 100,000
        # once Django is loaded, more after an import): about 0.3 s at each command's exit.
        # Frozen objects are skipped; the process ends and gives the memory back anyway.
        gc.freeze()
