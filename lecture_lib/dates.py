"""Dates written by people, and their ISO form: a small translation task.

The same calendar day can be written in many ways: ``"3 March 2021"``,
``"Mar 3, 2021"``, ``"03/03/21"``, ``"Wednesday, March 3rd 2021"`` or
``"2021-3-3"``. Turning any of them into the ISO form ``"2021-03-03"`` is
a sequence-to-sequence task in miniature: every output character comes
from one or two input characters, but where they sit depends on the
format. The day may come first or second, the month may be a number or a
word, the year may have two digits or four. A model that reads the input
one character at a time must learn *where to look*, which is what
attention provides.

Everything here is generated from :mod:`datetime` with a seeded
generator: nothing is downloaded. Strings become integer arrays through a
:class:`CharVocabulary`: :data:`SOURCE_VOCAB` for the written dates and
:data:`TARGET_VOCAB` for the ISO dates.

Dimension names: ``batch`` counts strings; ``n`` is the length of an
encoded source string (the positions an attention softmax chooses among);
``m`` is the length of an encoded target (always 10 for an ISO date).
"""

import datetime
import numbers
import re

import numpy as np

from ._checks import as_generator

__all__ = [
    "CharVocabulary",
    "DATE_FORMATS",
    "FIRST_DATE",
    "LAST_DATE",
    "SOURCE_VOCAB",
    "TARGET_VOCAB",
    "format_date",
    "make_date_pairs",
    "make_date_split",
]

#: The first and last day the generators draw from. Two-digit years are
#: then unambiguous, and read back by ``datetime.strptime``'s ``%y`` (69
#: to 99 mean 1969 to 1999, 00 to 68 mean 2000 to 2068).
FIRST_DATE = datetime.date(1970, 1, 1)
LAST_DATE = datetime.date(2049, 12, 31)

_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_WEEKDAYS = (
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
)

#: The written formats, as patterns: ``d`` / ``dd`` day (``3`` / ``03``),
#: ``do`` ordinal day (``3rd``), ``M`` / ``MM`` month number, ``MMM`` /
#: ``MMMM`` month name (``Mar`` / ``March``), ``EEE`` / ``EEEE`` weekday
#: (``Wed`` / ``Wednesday``), ``yy`` / ``yyyy`` year, ``'...'`` literal
#: text; everything else is copied. Numeric formats are ``MM/dd/yy``
#: (month first, as in the US) and ``dd.MM.yyyy`` (day first, as in
#: Germany): the separator tells which is which.
DATE_FORMATS = (
    "d MMMM yyyy",
    "MMM d, yyyy",
    "MM/dd/yy",
    "EEEE, MMMM do yyyy",
    "yyyy-M-d",
    "MMMM d, yyyy",
    "d MMM yy",
    "dd.MM.yyyy",
    "EEE d MMM yyyy",
    "do 'of' MMMM, yyyy",
    "yyyy/MM/dd",
)

_FIELD = re.compile(r"'[^']*'|EEEE|EEE|MMMM|MMM|MM|M|dd|do|d|yyyy|yy")


def _ordinal(day):
    """``1st``, ``2nd``, ``3rd``, ``4th``, ..., ``11th``, ..., ``23rd``."""
    if day in (11, 12, 13):
        return f"{day}th"
    suffix = {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


# Each pattern field as a function of the date.
_FIELDS = {
    "EEEE": lambda day: _WEEKDAYS[day.weekday()],
    "EEE": lambda day: _WEEKDAYS[day.weekday()][:3],
    "MMMM": lambda day: _MONTHS[day.month - 1],
    "MMM": lambda day: _MONTHS[day.month - 1][:3],
    "MM": lambda day: f"{day.month:02d}",
    "M": lambda day: str(day.month),
    "dd": lambda day: f"{day.day:02d}",
    "do": lambda day: _ordinal(day.day),
    "d": lambda day: str(day.day),
    "yyyy": lambda day: f"{day.year:04d}",
    "yy": lambda day: f"{day.year % 100:02d}",
}


def _compile(fmt):
    """A pattern as a list of literal strings and field functions."""
    parts, last = [], 0
    for match in _FIELD.finditer(fmt):
        parts.append(fmt[last : match.start()])
        token = match.group(0)
        parts.append(token[1:-1] if token[0] == "'" else _FIELDS[token])
        last = match.end()
    parts.append(fmt[last:])
    return [part for part in parts if part != ""]


_COMPILED = {fmt: _compile(fmt) for fmt in DATE_FORMATS}


def _render(day, parts):
    return "".join(p if isinstance(p, str) else p(day) for p in parts)


def _check_format(fmt, func):
    if fmt not in DATE_FORMATS:
        raise ValueError(
            f"{func}: expected a format from DATE_FORMATS, got {fmt!r}. "
            f"Choose one of {', '.join(map(repr, DATE_FORMATS))}."
        )
    return fmt


def format_date(day, fmt):
    """Write a date in one of the human formats of :data:`DATE_FORMATS`.

    Parameters
    ----------
    day : datetime.date or str
        The date to write, or its ISO form ``"yyyy-mm-dd"``.
    fmt : str
        One of :data:`DATE_FORMATS`, for example ``"MMM d, yyyy"``.

    Returns
    -------
    text : str
        The date in that format, with English month and weekday names
        (independent of the locale).

    Raises
    ------
    ValueError
        If ``day`` is neither a ``datetime.date`` nor an ISO date string,
        or ``fmt`` is not one of :data:`DATE_FORMATS`.

    Examples
    --------
    >>> from lecture_lib.dates import DATE_FORMATS, format_date
    >>> for fmt in DATE_FORMATS[:5]:
    ...     print(format_date("2021-03-03", fmt))
    3 March 2021
    Mar 3, 2021
    03/03/21
    Wednesday, March 3rd 2021
    2021-3-3
    >>> import datetime
    >>> format_date(datetime.date(2011, 12, 22), "do 'of' MMMM, yyyy")
    '22nd of December, 2011'
    """
    func = "format_date"
    if isinstance(day, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", day):
        try:
            day = datetime.date.fromisoformat(day)
        except ValueError as error:
            raise ValueError(
                f"{func}: expected an existing date, got {day!r} "
                f"({error}). Check the month and the day."
            ) from None
    if not isinstance(day, datetime.date) or isinstance(
        day, datetime.datetime
    ):
        raise ValueError(
            f"{func}: expected day to be a datetime.date or an ISO date "
            f"string 'yyyy-mm-dd', got {day!r} of type "
            f"{type(day).__name__}. Pass e.g. '2021-03-03' or "
            f"datetime.date(2021, 3, 3)."
        )
    _check_format(fmt, func)
    return _render(day, _COMPILED[fmt])


class CharVocabulary:
    """A fixed set of characters and special tokens, numbered from 0.

    Special tokens come first: ``"<pad>"`` is always id 0, and pads the
    end of strings shorter than the array they are stored in; ``"<s>"``
    (start), when present, is the first input of a decoder. Then come the
    characters, one id each.

    Parameters
    ----------
    chars : str or iterable of str
        The characters, each once, in the order they get their ids.
    specials : sequence of str, default=("<pad>",)
        Special tokens; the first must be ``"<pad>"``.

    Attributes
    ----------
    tokens : tuple of str
        Every token by id: the specials, then the characters.
    pad_id : int
        Id of ``"<pad>"``, always 0.
    start_id : int or None
        Id of ``"<s>"``, or None without a start token.

    Raises
    ------
    ValueError
        If a character is repeated, is not a single ASCII character, or
        the specials do not start with ``"<pad>"``.

    Examples
    --------
    >>> from lecture_lib.dates import CharVocabulary
    >>> vocab = CharVocabulary("ab-", specials=("<pad>", "<s>"))
    >>> vocab.tokens
    ('<pad>', '<s>', 'a', 'b', '-')
    >>> len(vocab), vocab.pad_id, vocab.start_id
    (5, 0, 1)
    >>> ids = vocab.encode(["ab", "b-ba"])
    >>> ids
    array([[2, 3, 0, 0],
           [3, 4, 3, 2]])
    >>> vocab.decode(ids)
    ['ab', 'b-ba']
    """

    def __init__(self, chars, specials=("<pad>",)):
        func = "CharVocabulary"
        chars = tuple(chars)
        specials = tuple(specials)
        if not specials or specials[0] != "<pad>":
            raise ValueError(
                f"{func}: expected specials to start with '<pad>' (id 0), "
                f"got {specials!r}. Pass e.g. specials=('<pad>', '<s>')."
            )
        bad = [
            c
            for c in chars
            if not isinstance(c, str) or len(c) != 1 or not c.isascii()
        ]
        if bad:
            raise ValueError(
                f"{func}: expected single ASCII characters, got {bad[0]!r}. "
                f"Pass a string such as '0123456789-'."
            )
        if len(set(chars)) != len(chars):
            twice = sorted({c for c in chars if chars.count(c) > 1})
            raise ValueError(
                f"{func}: expected every character once, got {twice} more "
                f"than once. Pass e.g. sorted(set(chars))."
            )
        self.tokens = specials + chars
        self.pad_id = 0
        self.start_id = specials.index("<s>") if "<s>" in specials else None
        self._n_specials = len(specials)
        # ASCII code -> id; -1 for characters outside the vocabulary.
        self._lookup = np.full(128, -1, dtype=np.int64)
        for i, c in enumerate(chars):
            self._lookup[ord(c)] = i + len(specials)
        self._chars = np.array([""] * len(specials) + list(chars))

    def __len__(self):
        return len(self.tokens)

    def __repr__(self):
        chars = "".join(self.tokens[self._n_specials :])
        specials = self.tokens[: self._n_specials]
        return f"CharVocabulary({chars!r}, specials={specials!r})"

    @property
    def chars(self):
        """str: the characters of the vocabulary, in id order."""
        return "".join(self.tokens[self._n_specials :])

    def encode(self, texts, length=None):
        """Turn strings into one padded array of token ids.

        Parameters
        ----------
        texts : str or sequence of str
            The strings; a single string is treated as a list of one.
        length : int, optional
            Columns of the result; shorter strings are padded at the end
            with ``pad_id``. Default: the length of the longest string.

        Returns
        -------
        ids : ndarray of int64, shape (batch, length)
            ``ids[i, j]`` is the id of character ``j`` of string ``i``.

        Raises
        ------
        ValueError
            If a string holds a character outside the vocabulary, is
            longer than ``length``, or ``texts`` is empty.

        Examples
        --------
        >>> from lecture_lib.dates import TARGET_VOCAB
        >>> TARGET_VOCAB.encode(["2021-03-03"])
        array([[ 4,  2,  4,  3, 12,  2,  5, 12,  2,  5]])
        """
        func = "CharVocabulary.encode"
        given = texts
        if isinstance(texts, str):
            texts = [texts]
        try:
            texts = list(texts)
        except TypeError:
            texts = []
        if not texts or not all(isinstance(t, str) for t in texts):
            raise ValueError(
                f"{func}: expected a non-empty list of strings, got "
                f"{given!r:.60}. Pass e.g. ['3 March 2021']."
            )
        unknown = set("".join(texts)).difference(self.chars)
        if unknown:
            c = sorted(unknown)[0]
            where = next(i for i, t in enumerate(texts) if c in t)
            raise ValueError(
                f"{func}: expected characters from {self.chars!r}, got "
                f"{c!r} in string {where} ({texts[where]!r}). Remove it, "
                f"or build a vocabulary that contains it."
            )
        longest = max(len(t) for t in texts)
        if length is None:
            length = longest
        ok = isinstance(length, numbers.Integral) and not isinstance(
            length, bool
        )
        if not ok or length < longest:
            raise ValueError(
                f"{func}: expected length to be an int >= {longest}, the "
                f"longest string, got {length!r}. Pass length=None to use "
                f"the longest string's length."
            )
        # Pad with NUL (code 0, never in the vocabulary), then look every
        # byte up at once; NUL becomes the pad id.
        raw = "".join(t.ljust(length, "\0") for t in texts).encode("ascii")
        codes = np.frombuffer(raw, dtype=np.uint8).reshape(len(texts), -1)
        ids = self._lookup[codes]
        ids[codes == 0] = self.pad_id
        return ids

    def decode(self, ids):
        """Turn token ids back into strings, leaving out special tokens.

        Parameters
        ----------
        ids : array_like of int, shape (batch, length) or (length,)
            Token ids in ``[0, len(vocab))``.

        Returns
        -------
        texts : list of str, or str for 1-D ``ids``
            The characters of each row; pads and start tokens are left
            out.

        Raises
        ------
        ValueError
            If ``ids`` is not an integer array of 1 or 2 dimensions with
            values in range.

        Examples
        --------
        >>> from lecture_lib.dates import TARGET_VOCAB
        >>> TARGET_VOCAB.decode([1, 4, 2, 4, 3, 12, 2, 5, 12, 2, 5])
        '2021-03-03'
        """
        func = "CharVocabulary.decode"
        arr = np.asarray(ids)
        if arr.dtype.kind not in "iu" or arr.ndim not in (1, 2):
            raise ValueError(
                f"{func}: expected integer ids of shape (batch, length) or "
                f"(length,), got dtype {arr.dtype} and shape {arr.shape}. "
                f"Pass the array returned by encode or by a model's "
                f"predictions."
            )
        if arr.size and (arr.min() < 0 or arr.max() >= len(self)):
            raise ValueError(
                f"{func}: expected ids in [0, {len(self)}), got values from "
                f"{int(arr.min())} to {int(arr.max())}. Decode with the "
                f"vocabulary that encoded them."
            )
        rows = np.atleast_2d(arr)
        texts = ["".join(row) for row in self._chars[rows]]
        return texts[0] if arr.ndim == 1 else texts


def _source_chars():
    """Every character that :func:`format_date` can write."""
    chars = set("0123456789 ,./-")
    chars.update(*_MONTHS, *_WEEKDAYS, "stndrh", "of")
    return "".join(sorted(chars))


#: Vocabulary of the written dates: ``"<pad>"``, then every character of
#: every format (digits, punctuation, the letters of the English month
#: and weekday names and of the ordinal suffixes).
SOURCE_VOCAB = CharVocabulary(_source_chars())

#: Vocabulary of the ISO dates: ``"<pad>"``, the decoder's start token
#: ``"<s>"``, the ten digits and ``"-"``. ISO dates all have 10
#: characters, so no end token is needed.
TARGET_VOCAB = CharVocabulary("0123456789-", specials=("<pad>", "<s>"))

_N_DAYS = (LAST_DATE - FIRST_DATE).days + 1


def _check_count(value, name, func, minimum=1):
    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if ok and value >= minimum:
        return int(value)
    raise ValueError(
        f"{func}: expected {name} to be an int >= {minimum}, got "
        f"{value!r}. Pass, for example, {name}=1000."
    )


def _check_formats(formats, func):
    if formats is None:
        return DATE_FORMATS
    if isinstance(formats, str):
        formats = (formats,)
    formats = tuple(formats)
    if not formats:
        raise ValueError(
            f"{func}: expected at least one format, got none. Pass "
            f"formats=None for all of DATE_FORMATS."
        )
    for fmt in formats:
        _check_format(fmt, func)
    return formats


def _pairs(offsets, formats, gen):
    """Written and ISO dates for day offsets from FIRST_DATE."""
    which = gen.integers(len(formats), size=len(offsets))
    compiled = [_COMPILED[fmt] for fmt in formats]
    first = FIRST_DATE.toordinal()
    days = [datetime.date.fromordinal(first + k) for k in offsets.tolist()]
    sources = [
        _render(day, compiled[k])
        for day, k in zip(days, which.tolist(), strict=True)
    ]
    return sources, [day.isoformat() for day in days]


def make_date_pairs(n, rng=None, formats=None):
    """Random dates, each written in a random human format and in ISO.

    Parameters
    ----------
    n : int
        Number of pairs, at least 1.
    rng : np.random.Generator, int or None, default=None
        Source of randomness: the days (uniform from :data:`FIRST_DATE`
        to :data:`LAST_DATE`) and the formats (uniform over ``formats``).
    formats : sequence of str, optional
        Formats to draw from, each one of :data:`DATE_FORMATS`. Default:
        all of them.

    Returns
    -------
    sources : list of n str
        The dates as people write them.
    targets : list of n str
        The same dates in ISO form, ``yyyy-mm-dd``.

    Raises
    ------
    ValueError
        If ``n`` is not a positive int, ``rng`` is not a generator, an
        int seed or None, or a format is unknown.

    Examples
    --------
    >>> from lecture_lib.dates import make_date_pairs
    >>> sources, targets = make_date_pairs(3, rng=0)
    >>> for source, target in zip(sources, targets):
    ...     print(f"{source:<29} -> {target}")
    01/19/38                      -> 2038-01-19
    Wednesday, December 16th 2020 -> 2020-12-16
    22 November 2010              -> 2010-11-22
    """
    func = "make_date_pairs"
    n = _check_count(n, "n", func)
    gen = as_generator(rng, func)
    formats = _check_formats(formats, func)
    offsets = gen.integers(_N_DAYS, size=n)
    return _pairs(offsets, formats, gen)


def make_date_split(n_train, n_held_out, rng=None, formats=None):
    """Training and held-out pairs whose calendar days never overlap.

    Parameters
    ----------
    n_train : int
        Number of training pairs, at least 1. Their days are drawn with
        replacement from the days not held out, so a training day may
        appear several times, in different formats.
    n_held_out : int
        Number of held-out pairs, at least 1: that many distinct days,
        none of which occurs among the training pairs in any format.
    rng : np.random.Generator, int or None, default=None
        Source of randomness for the days and the formats.
    formats : sequence of str, optional
        Formats to draw from, each one of :data:`DATE_FORMATS`. Default:
        all of them.

    Returns
    -------
    src_train : list of n_train str
    src_held_out : list of n_held_out str
    tgt_train : list of n_train str
    tgt_held_out : list of n_held_out str
        Written dates (``src``) and their ISO forms (``tgt``), in the
        order of :func:`lecture_lib.heads.load_digits_split`.

    Raises
    ------
    ValueError
        If a count is not a positive int, ``n_held_out`` leaves no day
        for training, ``rng`` is not valid or a format is unknown.

    Examples
    --------
    >>> from lecture_lib.dates import make_date_split
    >>> src_tr, src_ho, tgt_tr, tgt_ho = make_date_split(500, 100, rng=0)
    >>> len(src_tr), len(src_ho)
    (500, 100)
    >>> set(tgt_tr).isdisjoint(tgt_ho)
    True
    >>> src_ho[0], tgt_ho[0]
    ('February 14, 2020', '2020-02-14')
    """
    func = "make_date_split"
    n_train = _check_count(n_train, "n_train", func)
    n_held_out = _check_count(n_held_out, "n_held_out", func)
    if n_held_out >= _N_DAYS:
        raise ValueError(
            f"{func}: expected n_held_out < {_N_DAYS}, the number of days "
            f"from {FIRST_DATE} to {LAST_DATE}, so that some days remain "
            f"for training; got {n_held_out}. Hold out fewer days."
        )
    gen = as_generator(rng, func)
    formats = _check_formats(formats, func)
    days = gen.permutation(_N_DAYS)
    held, rest = days[:n_held_out], days[n_held_out:]
    src_held, tgt_held = _pairs(held, formats, gen)
    train = rest[gen.integers(rest.size, size=n_train)]
    src_train, tgt_train = _pairs(train, formats, gen)
    return src_train, src_held, tgt_train, tgt_held
