# Energy register and slot store exercised under MicroPython; prints JSON results.
import json
import sys
from measure.energy import Energy
from state_file import StateFile

e = Energy(max_power_w=10000)
# 1 W for 3.6 s split into 3600 windows of 1 ms: exactly 1 mWh... use 1000 W for 1 h in 1 s windows
for _ in range(3600):
    e.add_power(1000.0, 1000)
e.add_power(333.3, 7)  # residual only
res = {"wh": e.wh, "res": e.res_mws}
e2 = Energy(max_power_w=10000)
deltas = [e2.add_register(r, 1000) for r in (100, 101, 103, 50, 51, 51 + 500, 552)]
res["implausible"] = e2.add_power(20000.0, 1000)
res.update(reg_deltas=deltas, reg_wh=e2.wh, anomalies=e2.anomalies, last=list(e2.last_anomaly))

root = sys.argv[1]
s = StateFile(root + "/st")
first = s.load()
s.save({"n": 1})
s.save({"n": 2})
# tear the newest slot (seq 2 lives in slot .a): the previous one must win
with open(root + "/st.a", "r+b") as f:
    raw = f.read()
with open(root + "/st.a", "wb") as f:
    f.write(raw[:len(raw) - 3])
s2 = StateFile(root + "/st")
res.update(first=first, after_tear=s2.load(), corrupt=s2.corrupt, seq=s2.seq)
s2.save({"n": 3})
res["after_save"] = StateFile(root + "/st").load()
print(json.dumps(res))
