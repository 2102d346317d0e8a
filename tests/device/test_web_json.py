"""The meter's JSON answers survive a fragmented heap: out() falls back to sending the JSON
in pieces (a streamed body) instead of a 500, as seen with several clients at once on the
160k 64-bit port. Real device code under the MicroPython unix port."""
import upy


def test_json_goes_out_in_pieces_when_no_block_holds_it():
    whole, frag = upy.run_json("json_pieces.py", heap="256k")
    assert whole["whole"] and whole["size"] > 1500     # normally one block of JSON text
    assert frag["free"] > 20000                          # plenty free, but in small holes
    assert frag["pieces"] and frag["same"]
    assert frag["status"] == 200 and frag["type"] == "application/json"
