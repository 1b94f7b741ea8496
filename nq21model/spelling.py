"""Text as users spell it: :func:`normalise_text` (NFC, ``Ð`` read as ``Đ``, spaces
folded), :func:`all_clean` (whether a column needs it at all), ``_fold`` (the key
headers and categories are matched by: no case, accents or spacing), and the names
of administrative units written with or without their word ("Huyện Sìn Hồ", "Sìn
Hồ": :func:`same_unit_pairs`). What :mod:`nq21model.tables` reads tables with."""
from __future__ import annotations

import re
import unicodedata
from collections import Counter

def normalise_text(value: str) -> str:
    """NFC, ``Ð`` (U+00D0) read as ``Đ`` (U+0110), invisible characters left out
    (zero-width spaces and joiners, a BOM inside a value, a soft hyphen: copied in
    from web pages and other programs, unseen in Excel), trimmed, inner spaces (any
    Unicode space: no-break, narrow no-break …) folded."""
    text = value if type(value) is str else str(value)
    if not text.isascii():
        if unicodedata.is_normalized("NFC", text) and text == text.strip() and "  " not in text \
                and _OTHER_SPACE.search(text) is None:
            return text  # the common case: already clean
        text = unicodedata.normalize("NFC", text)
        if "\u00d0" in text:
            text = text.replace("\u00d0", "\u0110")
        text = _INVISIBLE.sub("", text)
        if not text.isascii():
            text = _SPACES.sub(" ", text)
    if "  " in text or "\t" in text or "\n" in text or "\r" in text:
        text = _SPACES.sub(" ", text)
    return text.strip()


_SPACES = re.compile(r"\s+")
#: Characters normalise_text leaves out: zero-width space, non-joiner and joiner, word
#: joiner, a BOM inside a value, soft hyphen.
_INVISIBLE = re.compile("[\u200b-\u200d\u2060\ufeff\u00ad]")
#: Characters normalise_text replaces: whitespace other than the space (Python's
#: ``str.isspace``), Ð and the invisible characters.
_OTHER_SPACE = re.compile("[\t\n\x0b\x0c\r\x1c-\x1f\x85\xa0\u1680\u2000-\u200d\u2028\u2029\u202f\u205f"
                          "\u2060\u3000\ufeff\u00ad\u00d0]")


#: Every byte but the ASCII ones :data:`_OTHER_SPACE` holds (what ``translate`` deletes).
_NOT_ASCII_OTHER_SPACE = bytes(b for b in range(256) if not (0x09 <= b <= 0x0d or 0x1c <= b <= 0x1f))


def all_clean(values: list) -> bool:
    """Whether every value is a non-empty string :func:`normalise_text` leaves as it
    is — a few passes over the values joined by NUL, in C (NFC holds for the join
    exactly when for each value: NUL composes with nothing), instead of a call per
    value (an empty value shows as two NULs together or one at an end). False says
    only that some value needs the slow way."""
    try:
        joined = "\x00".join(values)
    except TypeError:  # a value that is not text (a missing one)
        return False
    return joined_clean(joined, len(values))


def joined_clean(joined: str, n: int) -> bool:
    """:func:`all_clean` of ``n`` values joined by NUL: no value empty, none with a
    space at an end, none with two spaces running — no two of NUL and space side by
    side, a look at the UTF-8 bytes (where they are single bytes) — no other
    whitespace, NFC."""
    import numpy as np

    ascii_ = joined.isascii()
    data = joined.encode("ascii") if ascii_ else joined.encode("utf-8", "surrogatepass")
    if ascii_:  # only ASCII's own whitespace to look for: one pass in C, not the regex's
        other = data.translate(None, _NOT_ASCII_OTHER_SPACE) != b""
    else:
        other = _OTHER_SPACE.search(joined) is not None
    codes = np.frombuffer(data, dtype=np.uint8)
    nul = codes == 0
    gap = nul | (codes == 32)
    return (len(codes) > 0 and int(np.count_nonzero(nul)) == n - 1 and not gap[0] and not gap[-1]
            and not (gap[1:] & gap[:-1]).any() and not other and unicodedata.is_normalized("NFC", joined))


def _fold(value: str) -> str:
    """Key for matching headers and categories: lower case, no accents, no spacing."""
    text = normalise_text(value).casefold().replace("đ", "d")
    text = "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))
    return re.sub(r"[\s_\-\.]+", "", text)


# ------------------------------------------------------------- units' names

#: Words that open the name of an administrative unit (lower case) and the word each
#: stands for ("TP. Lai Châu" is "Thành phố Lai Châu").
_UNIT_PREFIXES = {"huyện": "huyện", "quận": "quận", "thành phố": "thành phố", "tp": "thành phố",
                  "thị xã": "thị xã", "tx": "thị xã", "xã": "xã", "phường": "phường", "thị trấn": "thị trấn",
                  "tt": "thị trấn"}
_UNIT_PREFIX = re.compile("(" + "|".join(sorted(map(re.escape, _UNIT_PREFIXES), key=len, reverse=True))
                          + r")(?:\.\s*|\s+)(?=\S)")


def unit_name_key(name: str) -> tuple[str | None, str]:
    """(the word the name opens with — "huyện", "xã", … — or None, the rest) of a
    unit's name, case folded: "TP. Lai Châu" → ("thành phố", "lai châu"), "Sìn Hồ" →
    (None, "sìn hồ"). Accents count: "Xà Dề Phìn" opens with no such word (where a
    tone mark sits does not: compare rests by :func:`tone_key`)."""
    text = normalise_text(str(name)).casefold()
    match = _UNIT_PREFIX.match(text)
    if match is None:
        return None, text
    return _UNIT_PREFIXES[match.group(1)], text[match.end():]


#: Vietnamese tone marks (combining): grave, acute, tilde, hook above, dot below.
_TONES = "\u0300\u0301\u0303\u0309\u0323"
_TONE = re.compile(f"[{_TONES}]")
_NOT_TONE = re.compile(f"[^\\s{_TONES}]+")


def tone_key(text: str) -> str:
    """A key of ``text`` that leaves out where in each word its tone mark sits: the
    text without tone marks, then each word's tone marks alone (decomposed; two
    passes in C). The old and the new placement of a tone — "Khóa"/"Khoá",
    "Hòa"/"Hoà", "Thủy"/"Thuỷ" — give one key. A key to compare, never to show."""
    if text.isascii():
        return text
    decomposed = unicodedata.normalize("NFD", text)
    return _TONE.sub("", decomposed) + "\x00" + _NOT_TONE.sub("", decomposed)


def same_word(word, other) -> bool:
    """Whether two names of one rest (:func:`unit_name_key`) can be one unit: one of
    them without its word, or both with the same word ("Xã Sìn Hồ" is not "Huyện Sìn
    Hồ")."""
    return word is None or other is None or word == other


#: :data:`_UNIT_PREFIX` at the start of each line of clean names joined by newlines.
_UNIT_PREFIX_LINES = re.compile("^(?:" + "|".join(sorted(map(re.escape, _UNIT_PREFIXES), key=len, reverse=True))
                                + r")(?:\. *| +)(?=[^ \n])", re.MULTILINE)


def _rests(names: list) -> list[str] | None:
    """:func:`unit_name_key`'s rest of every name, in a few passes in C over the
    names joined by newlines (clean names: :func:`all_clean`), or None."""
    if not all_clean(names):  # clean names hold no line break, and casefold makes none
        return None
    return _UNIT_PREFIX_LINES.sub("", "\n".join(names).casefold()).split("\n")


def same_unit_pairs(names) -> list[tuple[str, str]]:
    """Pairs of distinct names that look like one unit written two ways: the same
    name with and without its word ("Huyện Sìn Hồ", "Sìn Hồ") or with a word and its
    abbreviation ("TP Lai Châu", "Thành phố Lai Châu"); never two different words
    ("Xã Tam Đường", "Thị trấn Tam Đường" are two units); a tone placed the old or the
    new way ("Pa Khóa", "Pa Khoá") is one name. In the order met."""
    names = list(dict.fromkeys(names))
    rests = _rests(names)
    if rests is not None:  # a country's ten thousand names: only those whose rest's tone_key recurs can pair
        decomposed = unicodedata.normalize("NFD", "\n".join(rests))  # tone_key of every rest, in C
        keys = [bare + "\x00" + tones for bare, tones in zip(_TONE.sub("", decomposed).split("\n"),
                                                             _NOT_TONE.sub("", decomposed).split("\n"))]
        counts = Counter(keys)
        names = [name for name, key in zip(names, keys) if counts[key] > 1]
    seen: dict[str, list[tuple[str | None, str]]] = {}
    pairs = []
    for name in names:
        prefix, rest = unit_name_key(name)
        rest = tone_key(rest)
        for other_prefix, other in seen.get(rest, []):
            if same_word(prefix, other_prefix):
                pairs.append((other, name))
                break
        seen.setdefault(rest, []).append((prefix, name))
    return pairs
