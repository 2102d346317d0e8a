"""host_tools.measure and host_tools.calibrate: the device's measurement code run under
MicroPython on CSV captures from host_tools.waveform, the calibration derived from
reference readings, and every bad-input path with its clear error."""
import json
import subprocess
import sys

import pytest

from host_tools import calibrate, measure, waveform
from upy import REPO

RATE = 4000


def wave(**kw):
    args = dict(rate=RATE, seconds=1.0, vrms=231.0, irms=4.5, pf=0.8, vcal=0.3, ical=0.025,
                v3=0.03, v5=0.02, i3=0.1, i5=0.05, noise=1.0, v_dc=2030, i_dc=2070, start=0.7)
    args.update(kw)
    return waveform.Wave(**args)


def capture(tmp_path, name="cap.csv", **kw):
    v, i, truth = waveform.synth(wave(**kw))
    path = tmp_path / name
    waveform.write_csv(path, v, i)
    return path, truth


def cli(*args, module="host_tools.measure"):
    r = subprocess.run([sys.executable, "-m", module, *map(str, args)], capture_output=True,
                       text=True, cwd=REPO, timeout=120)
    return r.returncode, r.stdout, r.stderr


def test_measure_cli_prints_one_json_object(tmp_path):
    path, truth = capture(tmp_path, hz=60.0, pf=-0.7)
    code, out, err = cli(path, "--rate", RATE)     # unix_sim CAL: vcal 0.3, ical 0.025
    assert code == 0, err
    got = json.loads(out)
    assert set(got) == {"vrms", "irms", "p", "s", "pf", "hz"}
    assert got["vrms"] == pytest.approx(truth["vrms"], rel=0.002)
    assert got["irms"] == pytest.approx(truth["irms"], rel=0.002)
    assert got["p"] == pytest.approx(truth["p"], rel=0.005)
    assert got["s"] == pytest.approx(truth["s"], rel=0.004)
    assert got["pf"] == pytest.approx(truth["pf"], abs=0.01) and got["pf"] < 0
    assert got["hz"] == pytest.approx(60.0, abs=0.05)


def test_measure_uses_cal_file_and_board_defaults(tmp_path, capsys):
    path, truth = capture(tmp_path)
    cal = tmp_path / "cal.json"
    cal.write_text(json.dumps({"vcal": 0.6, "ical": 0.05}))   # phasecal from the board
    assert measure.main([str(path), "--rate", str(RATE), "--cal", str(cal)]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["vrms"] == pytest.approx(2 * truth["vrms"], rel=0.002)
    assert got["irms"] == pytest.approx(2 * truth["irms"], rel=0.002)
    assert measure.board_cal("esp32_analog")["phasecal"] > 1   # read without importing it
    assert measure.main([str(path), "--rate", str(RATE), "--board", "esp32_analog"]) == 0
    esp = json.loads(capsys.readouterr().out)
    assert esp["vrms"] == pytest.approx(truth["vrms"] / 0.3 * 0.262, rel=0.002)


def test_measure_creep_threshold_from_cal(tmp_path, capsys):
    """Below icreep the current is taken for ADC noise: 0 A, 0 W, PF 0."""
    path, truth = capture(tmp_path, irms=0.2)      # 8 counts RMS at 0.025 A/count
    cal = tmp_path / "cal.json"
    for icreep, zero in ((0.25, True), (0.15, False)):
        cal.write_text(json.dumps({"icreep": icreep}))
        assert measure.main([str(path), "--rate", str(RATE), "--cal", str(cal)]) == 0
        got = json.loads(capsys.readouterr().out)
        assert got["vrms"] == pytest.approx(truth["vrms"], rel=0.002)
        if zero:
            assert got["irms"] == got["p"] == got["s"] == got["pf"] == 0
        else:
            assert got["irms"] == pytest.approx(0.2, rel=0.01)


def test_measure_clipped_capture_warns(tmp_path):
    path, _ = capture(tmp_path, irms=40.0, pf=1.0)   # ~57 A peak: past the ADC range
    code, out, err = cli(path, "--rate", RATE)
    assert code == 0 and "clipping" in err
    assert set(json.loads(out)) == {"vrms", "irms", "p", "s", "pf", "hz"}


def test_measure_no_mains_signal(tmp_path):
    path = tmp_path / "flat.csv"
    path.write_text("v,i\n" + "2048,2050\n" * 1000)
    code, out, err = cli(path, "--rate", RATE)
    assert code == 1 and out == "" and "no mains signal" in err


BAD_CSV = {
    "header": ("volts,amps\n1,2\n", "expected the header 'v,i'"),
    "empty": ("", "expected the header 'v,i'"),
    "non-integer": ("v,i\n2048,2049\n2048,1.5\n", ":3: not integer ADC counts"),
    "text": ("v,i\n2048,abc\n", ":2: not integer ADC counts"),
    "columns": ("v,i\n2048,2049,7\n", ":2: expected 2 values"),
    "range": ("v,i\n4096,2048\n", "count outside 0..4095"),
    "negative": ("v,i\n-1,2048\n", "count outside 0..4095"),
    "short": ("v,i\n" + "2048,2048\n" * 50, "50 samples; at least"),
}


@pytest.mark.parametrize("kind", BAD_CSV)
def test_measure_bad_csv(tmp_path, kind, capsys):
    text, msg = BAD_CSV[kind]
    path = tmp_path / "bad.csv"
    path.write_text(text)
    assert measure.main([str(path), "--rate", str(RATE)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("measure: error: ") and msg in err


def test_measure_bad_arguments(tmp_path, capsys):
    path, _ = capture(tmp_path, seconds=0.1)
    cases = [
        ([str(tmp_path / "missing.csv"), "--rate", "4000"], "missing.csv: no such file"),
        ([str(path), "--rate", "0"], "--rate must be > 0"),
        ([str(path), "--rate", "4000", "--cal", str(tmp_path / "nocal.json")],
         "no such calibration file"),
        ([str(path), "--rate", "4000", "--board", "nosuch"], "unknown board 'nosuch'"),
        ([str(path), "--rate", "4000", "--bits", "30"], "--bits must be 8..16"),
    ]
    for bad_cal, msg in (("{", "not a JSON calibration file"), ("[1]", "expected a JSON object"),
                         ('{"vcal": -1}', "vcal must be > 0"),
                         ('{"ical": "x"}', "ical must be a number"),
                         ('{"icreep": -0.1}', "icreep must be >= 0"),
                         ('{"gain": 2}', "unknown keys ['gain']")):
        p = tmp_path / f"cal{len(cases)}.json"
        p.write_text(bad_cal)
        cases.append(([str(path), "--rate", "4000", "--cal", str(p)], msg))
    for argv, msg in cases:
        assert measure.main(argv) == 2, argv
        err = capsys.readouterr().err
        assert msg in err, (argv, err)


def test_measure_cli_missing_file_exit_status():
    code, out, err = cli("/nonexistent/cap.csv", "--rate", RATE)
    assert code == 2 and out == "" and "no such file" in err


# ---- calibrate

@pytest.mark.parametrize("pf", [1.0, 0.6, -0.6])
def test_calibrate_recovers_constants_and_sensor_delay(tmp_path, pf):
    # the current channel read 0.3 samples after the voltage: phasecal should be 1.3
    path, truth = capture(tmp_path, pf=pf, i_delay=0.3, vcal=0.27, ical=0.021)
    out = tmp_path / "CAL.json"
    code, stdout, err = cli(path, "--rate", RATE, "--ref-v", truth["vrms"],
                            "--ref-i", truth["irms"], "--ref-p", truth["p"], "--out", out,
                            module="host_tools.calibrate")
    assert code == 0, err
    cal = json.loads(out.read_text())
    assert set(cal) == {"vcal", "ical", "phasecal", "icreep"}
    assert cal["icreep"] == 0.075     # no --noload: the board's (unix_sim) value is kept
    assert cal["vcal"] == pytest.approx(0.27, rel=0.002)
    assert cal["ical"] == pytest.approx(0.021, rel=0.002)
    assert cal["phasecal"] == pytest.approx(1.3, abs=0.01)
    # the written file makes the measure command read the reference values
    code, got, err = cli(path, "--rate", RATE, "--cal", out)
    got = json.loads(got)
    assert got["vrms"] == pytest.approx(truth["vrms"], rel=0.001)
    assert got["p"] == pytest.approx(truth["p"], rel=0.003)
    assert got["pf"] == pytest.approx(truth["pf"], abs=0.005)
    assert json.loads(stdout)["cal"] == cal


def test_calibrate_without_ref_p_keeps_base_phasecal(tmp_path, capsys):
    path, truth = capture(tmp_path)
    base = tmp_path / "base.json"
    base.write_text(json.dumps({"phasecal": 1.12}))
    out = tmp_path / "CAL.json"
    assert calibrate.main([str(path), "--rate", str(RATE), "--ref-v", str(truth["vrms"]),
                           "--ref-i", str(truth["irms"]), "--cal", str(base),
                           "--out", str(out)]) == 0
    assert json.loads(out.read_text())["phasecal"] == 1.12


def test_calibrate_icreep_from_noload_capture(tmp_path, capsys):
    path, truth = capture(tmp_path)
    idle, _ = capture(tmp_path, "idle.csv", irms=0.0, noise=3.0)   # mains on, no load
    out = tmp_path / "CAL.json"
    assert calibrate.main([str(path), "--rate", str(RATE), "--ref-v", str(truth["vrms"]),
                           "--ref-i", str(truth["irms"]), "--noload", str(idle),
                           "--out", str(out)]) == 0
    cal = json.loads(out.read_text())
    assert json.loads(capsys.readouterr().out)["cal"] == cal
    assert cal["icreep"] == pytest.approx(1.5 * 3.0 * cal["ical"], rel=0.1)
    # the idle capture now reads 0 A and 0 W; the loaded one is unaffected
    assert measure.main([str(idle), "--rate", str(RATE), "--cal", str(out)]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["irms"] == 0 and got["p"] == 0


def test_calibrate_bad_input(tmp_path, capsys):
    path, truth = capture(tmp_path, seconds=0.25)
    clipped, _ = capture(tmp_path, "clip.csv", seconds=0.25, irms=40.0)
    noload, _ = capture(tmp_path, "noload.csv", seconds=0.25, irms=0.0)
    flat = tmp_path / "flat.csv"
    flat.write_text("v,i\n" + "2048,2048\n" * 1000)
    ok = ["--rate", "4000", "--ref-v", "230", "--ref-i", "4.5"]
    cases = [
        ([str(tmp_path / "none.csv")] + ok, "no such file"),
        ([str(path), "--rate", "4000", "--ref-v", "0", "--ref-i", "4.5"], "--ref-v must be > 0"),
        ([str(path)] + ok + ["--ref-p", "2000"], "--ref-p 2000.0 W is not possible"),
        ([str(clipped)] + ok, "clips at the ADC rails"),
        ([str(noload)] + ok, "no current on the current channel"),
        ([str(flat)] + ok, "no mains signal"),
        ([str(path)] + ok + ["--noload", str(path)], "is not well below the loaded one"),
        ([str(path)] + ok + ["--noload", str(flat)], "--noload capture: no signal"),
        ([str(path)] + ok + ["--out", str(tmp_path / "no" / "dir" / "CAL.json")],
         "cannot write"),
    ]
    for argv, msg in cases:
        assert calibrate.main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("calibrate: error: ") and msg in err, (argv, err)
    assert not (tmp_path / "CAL.json").exists()
