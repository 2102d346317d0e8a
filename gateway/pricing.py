"""Prices energy with the shared tariff code (prepay/tariff.py), never a copy of it.

A meter's `tariff` attribute names a row of the tariffs table (a JSON document, validated by
prepay.tariff.Tariff). Energy is priced at the rate in force at the end of the interval it was
used in, in the meter's local time (UTC + utc_offset_min). Costs are exact integers in
micro-minor units (Wh x milli-minor-per-kWh rate, tariff.py's units), summed per slot, and
converted to minor units only when reported, rounding down like prepay.tariff.price does.
"""
import json

from prepay.tariff import Tariff, split_um


class Pricing:
    def __init__(self, store, tariffs=None):
        self.store = store
        self._docs = dict(tariffs or {})   # name -> document overrides (tests, tools)
        self._cache = {}                   # tariff name -> Tariff or None

    def forget(self, meter_id=None):
        self._cache.clear()

    def tariff(self, name):
        if not name:
            return None
        t = self._cache.get(name, False)
        if t is False:
            doc = self._docs.get(name)
            if doc is None:
                row = self.store.db.execute("SELECT spec FROM tariffs WHERE name=?",
                                            (name,)).fetchone()
                doc = json.loads(row[0]) if row else None
            t = self._cache[name] = None if doc is None else Tariff(doc)
        return t

    def bucket(self, m, utc):
        """Time-of-use bucket (rate name) in force at utc; None without a tariff."""
        t = self.tariff(m.tariff)
        return None if t is None else t.bucket(utc + m.off * 60)

    def cost_um(self, m, utc, wh):
        t = self.tariff(m.tariff)
        return 0 if t is None else wh * t.rate(utc + m.off * 60)


def minor(cost_um):
    """micro-minor units -> whole minor units, rounded down (prepay.tariff.split_um)."""
    return split_um(cost_um)[0]
