# What the page, the journal and MQTT see of the credit state: the snapshot dict, the
# audit totals and money as display text (integer arithmetic, no floats).
from micropython import const

_UM = const(1000000)


def money(cr, minor):
    """123.45 INR for 12345 with 100 minor units per major unit."""
    mpm = cr.mpm
    sign = "-" if minor < 0 else ""
    minor = -minor if minor < 0 else minor
    if mpm <= 1:
        return "%s%d %s" % (sign, minor, cr.cur)
    dec = len(str(mpm - 1))
    return "%s%d.%0*d %s" % (sign, minor // mpm, dec, minor % mpm, cr.cur)


def snapshot(cr):
    L = cr.L
    bal = cr.balance()
    em = cr.emergency_available()
    return {
        "credit": bal, "debt": L.debt, "net": cr.net(), "currency": cr.cur,
        "minor_per_major": cr.mpm, "days_left": cr.days_left,
        "low": cr.low_amount or cr.low_by_days, "low_amount": cr.low_amount,
        "low_days": cr.low_by_days,
        "emergency_available": cr.em_amount if em else 0,
        "emergency_in_use": L.em_owed,
        "relay_closed": cr.relay_closed, "relay_reason": cr.relay_reason,
        "retry_in_s": cr.retry_in_s, "manual": cr.manual,
        "friendly": cr.friendly_now, "prepaid": L.prepaid,
        "lockout_s": cr.gate.locked_s(), "token_count": cr.gate.last,
        "token_rejected": cr.gate.rejected, "token_remote_rejected": cr.gate.remote_rejected,
        "state_writes": cr._slots.writes, "paid_wh": L.paid_wh,
        "forfeit_wh": L.forfeit_wh, "forfeit": L.forfeit_um // _UM,
        "tariff": cr.tariff.name, "rate": cr.tariff.bucket(cr.b.time() + cr._off),
        "spent_today": cr.usage.today_um // _UM, "spent_month": cr.usage.month_um // _UM,
        # the hours of use the days left are from; 1 more needed until the first
        "days_h": cr.days.used_h, "days_need_h": 0 if cr.days.used_h else 1,
        "days_oom": cr.days.oom,
        "errors": cr.errors,
    }


def audit(cr):
    L = cr.L
    return {"topped": L.topped, "given": L.given, "energy_um": L.energy_um,
            "standing": L.standing, "forfeit_um": L.forfeit_um, "credit": L.credit,
            "reserve_um": L.reserve_um, "debt": L.debt, "em_owed": L.em_owed,
            "paid_wh": L.paid_wh, "wh": cr._wh}
