"""Tests for :mod:`lecture_lib.dates`.

Oracle: ``datetime.datetime.strptime``, which reads every written format
back (the ordinal suffix, which strptime cannot read, is checked against
a table written out by hand and then removed). Dates are checked on
every format, every month, every weekday, every day of the month and the
ends of the date range.
"""

import datetime
import re

import numpy as np
import pytest

from lecture_lib.dates import (
    DATE_FORMATS,
    FIRST_DATE,
    LAST_DATE,
    SOURCE_VOCAB,
    TARGET_VOCAB,
    CharVocabulary,
    format_date,
    make_date_pairs,
    make_date_split,
)

pytestmark = pytest.mark.filterwarnings("error")

# The same formats as strptime patterns, written independently of the
# module. Two-digit years: strptime reads 00-68 as 2000-2068 and 69-99 as
# 1969-1999, which covers FIRST_DATE to LAST_DATE.
STRPTIME = {
    "d MMMM yyyy": "%d %B %Y",
    "MMM d, yyyy": "%b %d, %Y",
    "MM/dd/yy": "%m/%d/%y",
    "EEEE, MMMM do yyyy": "%A, %B %d %Y",
    "yyyy-M-d": "%Y-%m-%d",
    "MMMM d, yyyy": "%B %d, %Y",
    "d MMM yy": "%d %b %y",
    "dd.MM.yyyy": "%d.%m.%Y",
    "EEE d MMM yyyy": "%a %d %b %Y",
    "do 'of' MMMM, yyyy": "%d of %B, %Y",
    "yyyy/MM/dd": "%Y/%m/%d",
}
SUFFIX = {1: "st", 2: "nd", 3: "rd", 21: "st", 22: "nd", 23: "rd", 31: "st"}
ORDINAL = re.compile(r"\b(\d{1,2})(st|nd|rd|th)\b")


def parse(text, fmt):
    """The date that ``text`` writes in format ``fmt``, by strptime."""
    if "do" in fmt:
        match = ORDINAL.search(text)
        assert match, f"{text!r} has no ordinal day"
        day = int(match.group(1))
        assert match.group(2) == SUFFIX.get(day, "th"), text
        text = ORDINAL.sub(lambda m: m.group(1), text, count=1)
    return datetime.datetime.strptime(text, STRPTIME[fmt]).date()


def parse_any(text):
    """The dates that ``text`` can mean in any of the formats."""
    found = set()
    for fmt in DATE_FORMATS:
        try:
            found.add(parse(text, fmt))
        except (ValueError, AssertionError):
            pass
    return found


def sample_days():
    """Every month, weekday and day of the month, and the range ends."""
    days = [FIRST_DATE, LAST_DATE, datetime.date(2000, 2, 29)]
    days += [datetime.date(2021, month, 1) for month in range(1, 13)]
    days += [datetime.date(2021, 3, day) for day in range(1, 32)]
    days += [datetime.date(1999, 12, 31), datetime.date(2048, 1, 9)]
    return days


def test_oracle_covers_every_format():
    assert set(STRPTIME) == set(DATE_FORMATS)


class TestFormatDate:
    def test_the_examples_of_the_lecture(self):
        day = datetime.date(2021, 3, 3)
        got = {fmt: format_date(day, fmt) for fmt in DATE_FORMATS}
        assert got["d MMMM yyyy"] == "3 March 2021"
        assert got["MMM d, yyyy"] == "Mar 3, 2021"
        assert got["MM/dd/yy"] == "03/03/21"
        assert got["EEEE, MMMM do yyyy"] == "Wednesday, March 3rd 2021"
        assert got["yyyy-M-d"] == "2021-3-3"
        assert got["do 'of' MMMM, yyyy"] == "3rd of March, 2021"
        assert got["dd.MM.yyyy"] == "03.03.2021"

    @pytest.mark.parametrize("fmt", DATE_FORMATS)
    def test_parses_back_to_the_same_date(self, fmt):
        for day in sample_days():
            text = format_date(day, fmt)
            assert parse(text, fmt) == day, (fmt, text)

    def test_weekday_is_the_calendar_one(self):
        # 1 January 2024 was a Monday; check a whole week.
        for k, name in enumerate(["Monday", "Tuesday", "Wednesday"]):
            day = datetime.date(2024, 1, 1 + k)
            assert format_date(day, "EEEE, MMMM do yyyy").startswith(name)

    @pytest.mark.parametrize(
        "day, text",
        [(1, "1st"), (2, "2nd"), (3, "3rd"), (4, "4th"), (11, "11th"),
         (12, "12th"), (13, "13th"), (21, "21st"), (22, "22nd"),
         (23, "23rd"), (30, "30th"), (31, "31st")],
    )  # fmt: skip
    def test_ordinal_suffixes(self, day, text):
        got = format_date(datetime.date(2021, 1, day), "do 'of' MMMM, yyyy")
        assert got == f"{text} of January, 2021"

    def test_bad_format(self):
        with pytest.raises(ValueError, match=r"expected a format from DATE"):
            format_date(datetime.date(2021, 3, 3), "%d %B %Y")

    def test_iso_string_is_accepted(self):
        for fmt in DATE_FORMATS:
            day = datetime.date(1999, 12, 9)
            assert format_date("1999-12-09", fmt) == format_date(day, fmt)

    @pytest.mark.parametrize(
        "day", ["03/03/2021", "2021-3-3", datetime.datetime(2021, 3, 3), 3]
    )
    def test_bad_day(self, day):
        with pytest.raises(ValueError, match=r"expected day to be a dateti"):
            format_date(day, DATE_FORMATS[0])

    def test_impossible_iso_date(self):
        with pytest.raises(ValueError, match=r"expected an existing date"):
            format_date("2021-02-30", DATE_FORMATS[0])


class TestVocabularies:
    def every_rendering(self):
        return [
            format_date(day, fmt)
            for day in sample_days()
            for fmt in DATE_FORMATS
        ]

    def test_source_vocab_is_exactly_the_characters_written(self):
        # Every month, weekday and ordinal suffix is in sample_days.
        texts = self.every_rendering()
        assert set("".join(texts)) == set(SOURCE_VOCAB.chars)

    def test_target_vocab_covers_iso_dates(self):
        assert set(TARGET_VOCAB.chars) == set("0123456789-")
        assert TARGET_VOCAB.tokens[:2] == ("<pad>", "<s>")
        assert (TARGET_VOCAB.pad_id, TARGET_VOCAB.start_id) == (0, 1)
        assert SOURCE_VOCAB.pad_id == 0 and SOURCE_VOCAB.start_id is None

    def test_round_trip_and_padding(self):
        texts = self.every_rendering()
        ids = SOURCE_VOCAB.encode(texts)
        lengths = [len(t) for t in texts]
        assert ids.shape == (len(texts), max(lengths))
        assert ids.dtype == np.int64
        np.testing.assert_array_equal((ids != 0).sum(axis=1), lengths)
        for row, n in zip(ids, lengths, strict=True):
            assert (row[n:] == 0).all() and (row[:n] != 0).all()
        assert SOURCE_VOCAB.decode(ids) == texts

    def test_ids_follow_the_token_order(self):
        ids = TARGET_VOCAB.encode("2021-03-03", length=12)
        expected = [TARGET_VOCAB.tokens.index(c) for c in "2021-03-03"]
        assert ids.tolist() == [expected + [0, 0]]

    def test_decode_skips_start_and_pad(self):
        vocab = CharVocabulary("ab", specials=("<pad>", "<s>"))
        assert vocab.decode(np.array([1, 2, 0, 3, 0])) == "ab"

    def test_unknown_character(self):
        with pytest.raises(ValueError, match=r"got 'é' in string 1"):
            SOURCE_VOCAB.encode(["3 March 2021", "3 févr. 2021"])

    def test_nul_is_not_a_pad(self):
        with pytest.raises(ValueError, match=r"got '\\x00'"):
            SOURCE_VOCAB.encode(["3 March\x00"])

    def test_too_short_length(self):
        with pytest.raises(ValueError, match=r"expected length to be an int"):
            SOURCE_VOCAB.encode(["3 March 2021"], length=5)

    @pytest.mark.parametrize("texts", [[], [3], None])
    def test_bad_texts(self, texts):
        with pytest.raises(ValueError, match=r"non-empty list of strings"):
            SOURCE_VOCAB.encode(texts)

    @pytest.mark.parametrize(
        "ids", [[[0.0, 1.0]], [[len(TARGET_VOCAB)]], [[-1]], [[[2]]]]
    )
    def test_bad_ids(self, ids):
        with pytest.raises(ValueError, match=r"CharVocabulary.decode"):
            TARGET_VOCAB.decode(ids)

    @pytest.mark.parametrize(
        "chars, specials, match",
        [
            ("aa", ("<pad>",), r"every character once"),
            ("ab", ("<s>",), r"start with '<pad>'"),
            (["ab"], ("<pad>",), r"single ASCII characters"),
            ("é", ("<pad>",), r"single ASCII characters"),
        ],
    )
    def test_bad_vocabulary(self, chars, specials, match):
        with pytest.raises(ValueError, match=match):
            CharVocabulary(chars, specials=specials)


class TestMakeDatePairs:
    def test_targets_are_the_dates_the_sources_write(self):
        sources, targets = make_date_pairs(2000, rng=1)
        assert len(sources) == len(targets) == 2000
        for source, target in zip(sources, targets, strict=True):
            day = datetime.date.fromisoformat(target)
            assert day.isoformat() == target  # zero-padded ISO form
            assert FIRST_DATE <= day <= LAST_DATE
            assert day in parse_any(source), (source, target)

    def test_every_format_is_drawn(self):
        sources, _ = make_date_pairs(2000, rng=2)
        seen = {
            fmt
            for text in sources
            for fmt in DATE_FORMATS
            if _parses(text, fmt)
        }
        assert seen == set(DATE_FORMATS)

    def test_formats_argument(self):
        sources, targets = make_date_pairs(50, rng=0, formats="yyyy/MM/dd")
        assert sources == [t.replace("-", "/") for t in targets]

    def test_seeded_and_reproducible(self):
        assert make_date_pairs(20, rng=5) == make_date_pairs(20, rng=5)
        assert make_date_pairs(20, rng=5) != make_date_pairs(20, rng=6)
        gen = np.random.default_rng(5)
        first, second = make_date_pairs(20, gen), make_date_pairs(20, gen)
        assert first != second  # a Generator's stream continues
        assert first == make_date_pairs(20, rng=5)

    @pytest.mark.parametrize("n", [0, -1, 2.0, True, None])
    def test_bad_n(self, n):
        with pytest.raises(ValueError, match=r"expected n to be an int"):
            make_date_pairs(n, rng=0)

    def test_bad_rng_and_formats(self):
        with pytest.raises(ValueError, match=r"expected rng"):
            make_date_pairs(3, rng=np.random.RandomState(0))
        with pytest.raises(ValueError, match=r"expected a format"):
            make_date_pairs(3, rng=0, formats=["%Y"])
        with pytest.raises(ValueError, match=r"at least one format"):
            make_date_pairs(3, rng=0, formats=[])


def _parses(text, fmt):
    try:
        parse(text, fmt)
    except (ValueError, AssertionError):
        return False
    return True


class TestMakeDateSplit:
    def test_sizes_and_no_overlap_of_days(self):
        src_tr, src_ho, tgt_tr, tgt_ho = make_date_split(10_000, 1000, 0)
        assert (len(src_tr), len(tgt_tr)) == (10_000, 10_000)
        assert (len(src_ho), len(tgt_ho)) == (1000, 1000)
        # Compare calendar days read back from the sources, so that a
        # day written in another format counts as the same day.
        train_days = set().union(*(parse_any(s) for s in src_tr))
        held_days = {datetime.date.fromisoformat(t) for t in tgt_ho}
        assert len(held_days) == 1000  # distinct held-out days
        assert train_days.isdisjoint(held_days)
        assert set(tgt_tr).isdisjoint(tgt_ho)

    def test_pairs_are_consistent(self):
        src_tr, src_ho, tgt_tr, tgt_ho = make_date_split(300, 300, 1)
        pairs = zip(src_tr + src_ho, tgt_tr + tgt_ho, strict=True)
        for source, target in pairs:
            assert datetime.date.fromisoformat(target) in parse_any(source)

    def test_seeded_and_reproducible(self):
        assert make_date_split(100, 10, 3) == make_date_split(100, 10, 3)
        assert make_date_split(100, 10, 3) != make_date_split(100, 10, 4)

    def test_almost_every_day_held_out(self):
        n_days = (LAST_DATE - FIRST_DATE).days + 1
        src_tr, _, tgt_tr, tgt_ho = make_date_split(50, n_days - 1, rng=0)
        assert len(set(tgt_tr)) == 1 and set(tgt_tr).isdisjoint(tgt_ho)
        with pytest.raises(ValueError, match=r"expected n_held_out < "):
            make_date_split(50, n_days, rng=0)

    @pytest.mark.parametrize(
        "n_train, n_held_out, match",
        [(0, 10, "n_train"), (10, 0, "n_held_out"), (10, 1.5, "n_held")],
    )
    def test_bad_counts(self, n_train, n_held_out, match):
        with pytest.raises(ValueError, match=match):
            make_date_split(n_train, n_held_out, rng=0)
