"""Prices 30-minute slots with the shared tariff code (prepay/tariff.py), never a copy of it.

A meter's `tariff` attribute names a row of the tariffs table (a JSON spec, docs/tariffs.md).
The time-of-use bucket and rate are those in force at the slot's start, in the meter's local
time. Costs are kept in thousandths of a minor unit (cost_m) so per-slot rounding never
accumulates; they are rounded half-up to minor units only when reported.
"""
import json


class Pricing:
    def __init__(self, store, tariffs=None):
        self.store = store
        self._specs = dict(tariffs or {})  # name -> spec overrides (tests, tools)
        self._cache = {}                   # tariff name -> compiled tariff or None

    def forget(self, meter_id):
        self._cache.clear()

    def _tariff(self, name):
        if not name:
            return None
        t = self._cache.get(name, False)
        if t is False:
            spec = self._specs.get(name)
            if spec is None:
                row = self.store.db.execute("SELECT spec FROM tariffs WHERE name=?",
                                            (name,)).fetchone()
                spec = json.loads(row[0]) if row else None
            t = self._cache[name] = None if spec is None else compile_spec(spec)
        return t

    def bucket(self, m, utc):
        t = self._tariff(m.tariff)
        return None if t is None else t.bucket(utc + m.off * 60)

    def cost_m(self, m, utc, wh):
        t = self._tariff(m.tariff)
        return 0 if t is None else t.cost_m(utc + m.off * 60, wh)


def compile_spec(spec):
    from prepay import tariff
    return tariff.Tariff(spec)
