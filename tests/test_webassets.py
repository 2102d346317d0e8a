"""The page's message catalogues (device/web/assets/lang/*.txt) and their build
(host_tools/webassets.py): every shipped language has every key of English with the same
placeholders, the per-language pages have every slot filled, and a broken catalogue stops
the build with a message naming the problem."""
import gzip
import re

import pytest

from host_tools import webassets

LANGS = webassets.languages()


def test_ships_english_and_two_prepaid_market_languages():
    assert LANGS[0] == "en" and {"hi", "sw"} <= set(LANGS)


@pytest.mark.parametrize("code", LANGS)
def test_catalogue_complete(code):
    webassets.check(code, webassets.catalogue(code), webassets.catalogue("en"))


@pytest.mark.parametrize("code", LANGS)
def test_built_page_and_words(tmp_path, code):
    webassets.build(tmp_path)
    page = (tmp_path / f"page.{code}.html").read_text(encoding="utf-8")
    assert "{@" not in page and f'<html lang="{code}">' in page
    assert re.search(r'<a href="/\?lang=hi" lang="hi" hreflang="hi">हिन्दी</a>', page)
    words = (tmp_path / f"words.{code}.txt").read_text(encoding="utf-8")
    keys = [ln.split(" ", 1)[0] for ln in words.splitlines()]
    # only the phrases the meter writes itself go to flash; the page's are in its template,
    # the admin page's (a.*) in its own page, one per language
    assert keys and not [k for k in keys if k.startswith(("p.", "a."))]
    assert keys == [k for k in webassets.catalogue(code) if not k.startswith(("p.", "a."))]
    admin = gzip.decompress((tmp_path / f"admin.{code}.html.gz").read_bytes()).decode()
    assert "{@" not in admin and f'<html lang="{code}">' in admin
    cat = webassets.catalogue(code)
    assert "<title>%s</title>" % cat["a.title"] in admin and cat["a.go"] in admin
    # English's config and tariff problems are prepay/problems.py's words (their one home)
    if code == "en":
        from prepay.problems import CONFIG, TARIFF
        assert all(cat["cfg." + k] == v for k, v in list(CONFIG.items()) + list(TARIFF.items()))


@pytest.mark.parametrize("code", LANGS)
def test_every_tariff_problem_is_said_in_every_language(code):
    """Every problem the tariff parser raises (tests/prepay/test_tariff.py: the codes in
    its source are prepay/problems.py TARIFF's) has English and a text of each language's
    own: no English left inside a translated sentence, Hindi in Devanagari."""
    from prepay.problems import TARIFF
    cat, en = webassets.catalogue(code), webassets.catalogue("en")
    missing = [c for c in TARIFF if not cat.get("cfg." + c)]
    assert not missing, "%s.txt lacks cfg.%s" % (code, ", cfg.".join(missing))
    assert "cfg.tariff" not in cat          # the old English-detail-in-a-sentence key
    for c in TARIFF:
        if code == "en":
            assert cat["cfg." + c] == TARIFF[c]
        else:
            assert cat["cfg." + c] != en["cfg." + c], c
        if code == "hi":
            assert re.search("[\u0900-\u097f]", cat["cfg." + c]), c


def test_a_code_in_both_problem_tables_stops_the_build(monkeypatch):
    # both tables share the catalogues' cfg.* keys: one code, one phrase
    from prepay import problems
    monkeypatch.setitem(problems.TARIFF, "range", "x")
    with pytest.raises(webassets.CatalogueError, match="range both a config and a tariff code"):
        webassets.catalogue("en")


def test_template_words_are_escaped():
    out = webassets.localize("<b>{@p.x}</b>{@langs}", {"p.x": 'a<b & "c"'}, "PICK")
    assert out == "<b>a&lt;b &amp; &quot;c&quot;</b>PICK"


@pytest.mark.parametrize("words, problem", [
    ({"p.lang": "X"}, "missing p.title"),
    (dict(webassets.catalogue("en"), extra="x"), "unknown key extra"),
    (dict(webassets.catalogue("en"), **{"days.n": "about days"}), "days.n must have the "
     "placeholders ['%d', '%d']"),
    (dict(webassets.catalogue("en"), **{"price.next": "%d from %s"}), "price.next must have"),
])
def test_bad_catalogue_is_refused(words, problem):
    with pytest.raises(webassets.CatalogueError, match=re.escape(problem)):
        webassets.check("xx", words, webassets.catalogue("en"))


def test_duplicate_key_is_refused(tmp_path, monkeypatch):
    (tmp_path / "lang").mkdir()
    (tmp_path / "lang" / "xx.txt").write_text("a one\na two\n")
    monkeypatch.setattr(webassets, "SRC", tmp_path)
    with pytest.raises(webassets.CatalogueError, match="xx.txt: a twice"):
        webassets.catalogue("xx")
