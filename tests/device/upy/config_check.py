# Validate configs given as JSON on argv under MicroPython; print errors per case.
import sys
import json
import config

for arg in sys.argv[1:]:
    cfg, errors = config.validate(json.loads(arg))
    print(json.dumps({"errors": errors, "user": cfg["mqtt.user"], "port": cfg["mqtt.port"]}))
