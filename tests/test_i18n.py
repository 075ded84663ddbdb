"""Translations: the zh catalogue is complete, compiled, up to date with the sources, and used.

Chinese (zh) is the default locale and English (en) the second; msgids are English. The
catalogues live in app/translations/<locale>/LC_MESSAGES/ and are maintained with bin/i18n.
"""
import io
import os
import re

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), os.pardir))
TRANSLATIONS = os.path.join(ROOT, "app", "translations")
LOCALES = ("zh", "en")
# The same keywords as babel.cfg / bin/i18n (repeated for Babel releases that ignore babel.cfg's).
KEYWORDS = {
    **DEFAULT_KEYWORDS,
    "_l": None,
    "lazy_gettext": None,
    "lazy_ngettext": (1, 2),
    "lazy_pgettext": ((1, "c"), 2),
}
FIX = "run bin/i18n update, translate the empty msgstr entries in app/translations/zh, then bin/i18n compile"


@pytest.fixture(autouse=True)
def _clean():
    """Replaces conftest's autouse ``_clean`` for this module: nothing here writes business data,
    and the catalogue checks need neither the app nor the database."""
    yield


def _po_path(locale):
    return os.path.join(TRANSLATIONS, locale, "LC_MESSAGES", "messages.po")


def _catalog(locale):
    with open(_po_path(locale), "rb") as f:
        return read_po(f, locale=locale)


def _strings(message):
    return message.string if isinstance(message.string, tuple) else (message.string,)


def _mo_messages(fileobj):
    return {(m.id, m.context): m.string for m in read_mo(fileobj) if m.id}


def _extract():
    """Every msgid the sources use, extracted afresh with babel.cfg: {(msgid, context): "file:line"}."""
    with open(os.path.join(ROOT, "babel.cfg")) as f:
        method_map, options_map = parse_mapping_cfg(f)
    found = {}
    for filename, lineno, message, _comments, context in extract_from_dir(
            ROOT, method_map, options_map, keywords=KEYWORDS):
        msgid = message[0] if isinstance(message, tuple) else message
        found.setdefault((msgid, context), f"{filename}:{lineno}")
    return found


# --- (a) the zh catalogue is fully translated ----------------------------------------------------

def test_zh_catalogue_has_no_empty_or_fuzzy_translation():
    catalog = _catalog("zh")
    bad = [m.id for m in catalog if m.id and (m.fuzzy or not all(_strings(m)))]
    assert not bad, f"{len(bad)} zh msgid(s) untranslated or fuzzy ({FIX}):\n" + "\n".join(map(repr, bad))


def test_zh_translations_keep_the_placeholders():
    catalog = _catalog("zh")
    placeholder = re.compile(r"%\(\w+\)[sdifr]|\{\w*\}")
    bad = []
    for m in catalog:
        if not m.id or not m.string:
            continue
        ids = m.id if isinstance(m.id, tuple) else (m.id,)
        want = sorted(placeholder.findall(ids[0]))
        for string in _strings(m):
            if sorted(placeholder.findall(string)) != want:
                bad.append(f"{m.id!r} -> {string!r}")
        bad += [f"{m.id!r}: {err}" for err in m.check(catalog)]
    assert not bad, "translations that change the placeholders:\n" + "\n".join(bad)


def test_both_locales_exist_and_have_the_same_msgids():
    zh, en = _catalog("zh"), _catalog("en")
    assert str(zh.locale) == "zh" and str(en.locale) == "en"
    assert {(m.id, m.context) for m in zh if m.id} == {(m.id, m.context) for m in en if m.id}, (
        "zh and en catalogues list different msgids: " + FIX)


# --- (b) the committed .mo files match the .po files ---------------------------------------------

@pytest.mark.parametrize("locale", LOCALES)
def test_mo_is_compiled_from_the_current_po(locale):
    buf = io.BytesIO()
    write_mo(buf, _catalog(locale))  # as pybabel compile does: fuzzy and empty entries left out
    buf.seek(0)
    want = _mo_messages(buf)
    mo = _po_path(locale)[:-3] + ".mo"
    assert os.path.exists(mo), f"{mo} is missing: run bin/i18n compile"
    with open(mo, "rb") as f:
        have = _mo_messages(f)
    assert have == want, f"{mo} is out of date with messages.po: run bin/i18n compile"
    if locale == "zh":
        assert len(have) == sum(1 for m in _catalog(locale) if m.id)


# --- (d) every string the sources use is in the zh catalogue -------------------------------------

def test_every_extracted_msgid_is_in_the_zh_catalogue():
    catalog = _catalog("zh")
    found = _extract()
    assert len(found) > 100, "extraction found almost nothing: is babel.cfg right?"
    missing = [f"{msgid!r} ({where})" for (msgid, context), where in sorted(found.items(), key=lambda kv: kv[1])
               if catalog.get(msgid, context=context) is None]
    assert not missing, f"{len(missing)} msgid(s) not in the zh catalogue ({FIX}):\n" + "\n".join(missing)


def test_flask_appbuilder_strings_are_in_our_catalogue():
    """FAB's own UI strings are listed in app/translations/fab_strings.py (bin/i18n fab-strings)."""
    catalog = _catalog("zh")
    for msgid, chinese in [("Added Row", "新增成功"), ("Search", "查询"), ("Add Filter", "添加筛选条件"),
                           ("Record Count", "记录数"), ("Logout", "退出登录"), ("List Users", "用户列表"),
                           ("Are you sure you want to delete this item?", "确定要删除这条记录吗？")]:
        assert catalog.get(msgid) is not None and catalog.get(msgid).string == chinese, msgid


# --- (c) pages render in Chinese by default and in English after switching -----------------------

def _outlet_page_labels(app, locale):
    """The outlet list title, one of its column labels and the network menu entries in ``locale``."""
    from flask_babel import force_locale
    from markupsafe import escape

    from app.network.views import OutletView
    from app.security import permissions as p

    with app.test_request_context(), force_locale(locale):
        category = app.appbuilder.menu.find(p.MENU_NETWORK)
        labels = [OutletView.list_title, OutletView.label_columns["status"], category.label]
        labels += [child.label for child in category.childs]
        return [str(escape(str(label))) for label in labels]


def _has_chinese(text):
    return re.search(r"[\u4e00-\u9fff]", text) is not None


def test_pages_are_chinese_by_default_and_english_after_switching(app, login):
    zh, en = _outlet_page_labels(app, "zh"), _outlet_page_labels(app, "en")
    assert all(_has_chinese(label) for label in zh), zh
    assert en[:2] == ["Service outlets", "Cooperation status"] and "Service network" in en, en
    # Flask-AppBuilder's own strings on the same page, as translated by our catalogue
    fab_zh = ["查询", "添加筛选条件", "退出登录", "个人资料", "新增"]
    fab_en = ["Search", "Add Filter", "Logout", "Profile"]

    client = login("hq")
    page = client.get("/outletview/list/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    for text in zh + fab_zh:
        assert text in html, f"{text!r} missing from the Chinese outlet list"
    for text in ["Service outlets", "Cooperation status", ">Add Filter<", ">Logout<"]:
        assert text not in html, f"{text!r} left in English on the Chinese outlet list"

    switched = client.post("/language/", data={"locale": "en"})
    assert switched.status_code in (302, 303)
    html = client.get("/outletview/list/").get_data(as_text=True)
    for text in en + fab_en:
        assert text in html, f"{text!r} missing from the English outlet list"
    for text in zh[:2] + ["添加筛选条件", "退出登录"]:
        assert text not in html, f"{text!r} left in Chinese on the English outlet list"

    assert client.post("/language/", data={"locale": "zh"}).status_code in (302, 303)
    assert zh[0] in client.get("/outletview/list/").get_data(as_text=True)


def test_unknown_locale_is_refused(login):
    assert login("hq").post("/language/", data={"locale": "fr"}).status_code == 404
