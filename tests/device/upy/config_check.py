# Validate configs given as JSON on argv under MicroPython; print errors per case.
import sys
import json
from prepay import settings

for arg in sys.argv[1:]:
    cfg, errors = settings.validate(json.loads(arg))
    print(json.dumps({"errors": errors, "user": cfg["mqtt.user"], "port": cfg["mqtt.port"]}))
