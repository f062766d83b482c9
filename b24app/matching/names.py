"""Russian personal names: folding, look-alike repair, a lossy phonetic skeleton, diminutives, comparison.

Every comparison works on the *skeleton*: the name transliterated to Latin and collapsed so that the
common spellings of one Russian name meet (Александр / Aleksandr / Alexander / Alexandr,
Юлия / Yulia / Julia / Iuliia, Ксения / Kseniya / Xenia, Щеглова / Shcheglova / Sheglova).
"""

import re
from dataclasses import dataclass
from functools import lru_cache

# Outcomes of comparing one name field of two people.
SAME = "same"
TRANSLIT = "translit"
DIMINUTIVE = "diminutive"
INITIAL = "initial"
TYPO = "typo"
GENDER_FORM = "gender_form"
DIFFERENT = "different"
MISSING = "missing"

MALE = "m"
FEMALE = "f"

# (diminutive, full name, gender of that full name). A diminutive may stand for several full names.
DIMINUTIVES: tuple[tuple[str, str, str], ...] = (
    ("Саша", "Александр", MALE), ("Саша", "Александра", FEMALE),
    ("Шура", "Александр", MALE), ("Шура", "Александра", FEMALE),
    ("Саня", "Александр", MALE), ("Саня", "Александра", FEMALE),
    ("Женя", "Евгений", MALE), ("Женя", "Евгения", FEMALE),
    ("Валя", "Валентин", MALE), ("Валя", "Валентина", FEMALE),
    ("Слава", "Вячеслав", MALE), ("Слава", "Владислав", MALE), ("Слава", "Ярослав", MALE),
    ("Слава", "Станислав", MALE), ("Слава", "Святослав", MALE), ("Слава", "Ярослава", FEMALE),
    ("Дима", "Дмитрий", MALE), ("Митя", "Дмитрий", MALE),
    ("Миша", "Михаил", MALE), ("Ваня", "Иван", MALE), ("Петя", "Пётр", MALE),
    ("Коля", "Николай", MALE), ("Серёжа", "Сергей", MALE), ("Лёша", "Алексей", MALE),
    ("Алёша", "Алексей", MALE), ("Вова", "Владимир", MALE), ("Володя", "Владимир", MALE),
    ("Костя", "Константин", MALE), ("Паша", "Павел", MALE), ("Гоша", "Георгий", MALE),
    ("Жора", "Георгий", MALE), ("Толя", "Анатолий", MALE), ("Стас", "Станислав", MALE),
    ("Влад", "Владислав", MALE), ("Витя", "Виктор", MALE), ("Юра", "Юрий", MALE),
    ("Гриша", "Григорий", MALE), ("Боря", "Борис", MALE), ("Лёня", "Леонид", MALE),
    ("Федя", "Фёдор", MALE), ("Андрюша", "Андрей", MALE), ("Тёма", "Артём", MALE),
    ("Макс", "Максим", MALE), ("Рома", "Роман", MALE), ("Кирюша", "Кирилл", MALE),
    ("Сёма", "Семён", MALE), ("Стёпа", "Степан", MALE), ("Вася", "Василий", MALE),
    ("Гена", "Геннадий", MALE), ("Валера", "Валерий", MALE), ("Тима", "Тимофей", MALE),
    ("Илюша", "Илья", MALE), ("Даня", "Даниил", MALE), ("Лёва", "Лев", MALE),
    ("Яша", "Яков", MALE), ("Аркаша", "Аркадий", MALE), ("Эдик", "Эдуард", MALE),
    ("Сева", "Всеволод", MALE), ("Олежка", "Олег", MALE), ("Егорка", "Егор", MALE),
    ("Лена", "Елена", FEMALE), ("Катя", "Екатерина", FEMALE), ("Маша", "Мария", FEMALE),
    ("Маруся", "Мария", FEMALE), ("Наташа", "Наталья", FEMALE), ("Таня", "Татьяна", FEMALE),
    ("Оля", "Ольга", FEMALE), ("Юля", "Юлия", FEMALE), ("Настя", "Анастасия", FEMALE),
    ("Света", "Светлана", FEMALE), ("Ира", "Ирина", FEMALE), ("Люда", "Людмила", FEMALE),
    ("Мила", "Людмила", FEMALE), ("Галя", "Галина", FEMALE), ("Надя", "Надежда", FEMALE),
    ("Верочка", "Вера", FEMALE), ("Люба", "Любовь", FEMALE), ("Соня", "Софья", FEMALE),
    ("Лиза", "Елизавета", FEMALE), ("Даша", "Дарья", FEMALE), ("Аня", "Анна", FEMALE),
    ("Нюра", "Анна", FEMALE), ("Поля", "Полина", FEMALE), ("Ксюша", "Ксения", FEMALE),
    ("Вика", "Виктория", FEMALE), ("Лида", "Лидия", FEMALE), ("Тома", "Тамара", FEMALE),
    ("Зина", "Зинаида", FEMALE), ("Рита", "Маргарита", FEMALE), ("Лера", "Валерия", FEMALE),
    ("Тоня", "Антонина", FEMALE), ("Уля", "Ульяна", FEMALE), ("Варя", "Варвара", FEMALE),
    ("Ника", "Вероника", FEMALE), ("Дуся", "Евдокия", FEMALE), ("Ульяша", "Ульяна", FEMALE),
    ("Маня", "Мария", FEMALE), ("Катюша", "Екатерина", FEMALE), ("Танюша", "Татьяна", FEMALE),
)  # fmt: skip

# Full names without a diminutive above whose gender the ending does not tell (or that we see often).
OTHER_FULL_NAMES: tuple[tuple[str, str], ...] = (
    ("Никита", MALE), ("Илья", MALE), ("Фома", MALE), ("Лука", MALE), ("Кузьма", MALE),
    ("Данила", MALE), ("Игорь", MALE), ("Антон", MALE), ("Денис", MALE), ("Тимур", MALE),
    ("Руслан", MALE), ("Глеб", MALE), ("Марк", MALE), ("Вадим", MALE), ("Ярослав", MALE),
    ("Марина", FEMALE), ("Алёна", FEMALE), ("Оксана", FEMALE), ("Жанна", FEMALE),
    ("Нина", FEMALE), ("Алла", FEMALE), ("Любовь", FEMALE), ("Вера", FEMALE),
    ("Кристина", FEMALE), ("Эльвира", FEMALE), ("Диана", FEMALE), ("Милана", FEMALE),
)  # fmt: skip

_CYR_TO_LAT = str.maketrans(
    {
        "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ё": "e", "ж": "zh",
        "з": "z", "и": "i", "й": "y", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o",
        "п": "p", "р": "r", "с": "s", "т": "t", "у": "u", "ф": "f", "х": "kh", "ц": "ts",
        "ч": "ch", "ш": "sh", "щ": "shch", "ъ": "", "ы": "y", "ь": "", "э": "e", "ю": "yu",
        "я": "ya", "і": "i", "ї": "i", "є": "e", "ґ": "g",
    }
)  # fmt: skip

# Letters that look alike in the two alphabets (after lower-casing; "b" and "h" are the capitals В, Н).
_LAT_LOOKALIKE = "aeopcxykmthb"
_CYR_LOOKALIKE = "аеорсхукмтнв"
_TO_CYR = str.maketrans(_LAT_LOOKALIKE, _CYR_LOOKALIKE)
_TO_LAT = str.maketrans(_CYR_LOOKALIKE, _LAT_LOOKALIKE)
_LAT_SET = frozenset(_LAT_LOOKALIKE)
_CYR_SET = frozenset(_CYR_LOOKALIKE)

# The skeleton: ordered rewrites on the Latin form; upper-case letters are internal codes.
_SKELETON_STEPS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), repl)
    for pattern, repl in (
        (r"[^a-z]", ""),
        (r"x", "ks"),
        (r"shch|shh|sch|sh", "S"),  # щ: shch (ICAO), shh (GOST 2000), sch, sh
        (r"tch|ch", "Q"),
        (r"zh", "Z"),
        (r"kh", "h"),
        (r"ph", "f"),
        (r"w", "v"),
        (r"q", "k"),
        (r"ck", "k"),
        (r"ts|tz|tc|c(?=[eiy])", "C"),
        (r"c", "k"),
        (r"[yj]o", "e"),  # ё written yo / jo: Fyodor, Semyon, Artyom
        (r"[yj]", "i"),
        (r"(.)\1+", r"\1"),  # Iuliia / Yuliya / Julia → iulia; Anna / Ana; Kirill / Kiril
        (r"ie", "e"),  # ye / ie / je read as е: Yelena, Yevgeniy, Vasilievich, Andreyevich
        (r"(?<=[aeou])i(?=[aeou])", ""),  # Nikolayevich / Nikolaevich
        (r"(.)\1+", r"\1"),
        (r"(?<=[^aeiou])er$", "r"),  # Alexander / Aleksandr, Peter / Petr
    )
)

_PATRONYMIC_ENDINGS = {
    "oviQ": MALE, "eviQ": MALE, "iQ": MALE, "ogli": MALE, "uli": MALE,
    "ovna": FEMALE, "evna": FEMALE, "iQna": FEMALE, "kizi": FEMALE,
}  # fmt: skip

# Gendered surname endings on the skeleton: feminine ending → masculine ending.
_SURNAME_FEMININE = (("ova", "ov"), ("eva", "ev"), ("ina", "in"), ("ska", "ski"), ("Cka", "Cki"))
_SURNAME_MASCULINE = ("ov", "ev", "in", "ski", "Cki")


def fold(text: str) -> str:
    """Lower-case, ё→е, dashes unified, other punctuation dropped, spaces collapsed."""
    text = re.sub(r"[’'`ʹʼ]", "", text.lower().replace("ё", "е"))  # Natal'ya: the apostrophe is ь
    text = re.sub(r"[‐-―−]", "-", text)
    text = re.sub(r"[^\w\s-]|[\d_]", " ", text)
    return " ".join(text.split()).strip("-")


def _is_cyrillic(ch: str) -> bool:
    return "а" <= ch <= "я" or ch in "ёіїєґ"


def fix_lookalikes(token: str) -> str:
    """Latin look-alike letters inside a Cyrillic word become Cyrillic (and the reverse); a folded token."""
    cyr = {ch for ch in token if _is_cyrillic(ch)}
    lat = {ch for ch in token if "a" <= ch <= "z"}
    if not cyr or not lat:
        return token
    if lat <= _LAT_SET:  # an all-look-alike mix is read as Cyrillic: the data is Russian
        return token.translate(_TO_CYR)
    return token.translate(_TO_LAT) if cyr <= _CYR_SET else token


def normalise_name(text: str) -> str:
    """Folded form with look-alike letters repaired per word: "ИBAНOB" → "иванов"."""
    return " ".join(fix_lookalikes(token) for token in fold(text).split())


def transliterate(text: str) -> str:
    """Cyrillic letters to plain Latin (one simple scheme); Latin left as is."""
    return normalise_name(text).translate(_CYR_TO_LAT)


@lru_cache(maxsize=65536)
def skeleton(text: str) -> str:
    """The lossy phonetic key on which spellings of one name meet: "Юлия", "Julia", "Iuliia" → "ula"."""
    s = transliterate(text)
    for pattern, repl in _SKELETON_STEPS:
        s = pattern.sub(repl, s)
    return s


def _build_tables() -> tuple[dict[str, frozenset[str]], dict[str, frozenset[str]]]:
    expansions: dict[str, set[str]] = {}
    genders: dict[str, set[str]] = {}
    for short, full, gender in DIMINUTIVES:
        expansions.setdefault(skeleton(short), set()).add(skeleton(full))
        genders.setdefault(skeleton(full), set()).add(gender)
        genders.setdefault(skeleton(short), set()).add(gender)
    for full, gender in OTHER_FULL_NAMES:
        genders.setdefault(skeleton(full), set()).add(gender)
    return (
        {k: frozenset(v) for k, v in expansions.items()},
        {k: frozenset(v) for k, v in genders.items()},
    )


_EXPANSIONS, _GENDERS = _build_tables()


def is_known_given_name(text: str) -> bool:
    """True when the token is a first name or diminutive from our tables (any spelling)."""
    return skeleton(text) in _GENDERS


def given_name_gender(text: str) -> str | None:
    """MALE or FEMALE when the first name tells it (Женя and Саша do not), else None."""
    genders = _GENDERS.get(skeleton(text), frozenset())
    return next(iter(genders)) if len(genders) == 1 else None


def patronymic_gender(text: str) -> str | None:
    """MALE for -ович/-евич/-ич/оглы, FEMALE for -овна/-евна/-ична/кызы, else None."""
    skel = skeleton(text)
    for ending, gender in _PATRONYMIC_ENDINGS.items():
        if skel.endswith(ending) and len(skel) > len(ending) + 1:
            return gender
    return None


def is_patronymic(text: str) -> bool:
    """True when the word has a patronymic ending: Иванович, Петровна, Ильич, Кузьминична."""
    return patronymic_gender(text) is not None


def surname_base(skel: str) -> str:
    """The masculine form of a surname skeleton: "ivanova" → "ivanov", "dostoevska" → "dostoevski"."""
    for feminine, masculine in _SURNAME_FEMININE:
        if skel.endswith(feminine) and len(skel) > len(feminine) + 1:
            return skel[: -len(feminine)] + masculine
    return skel


def surname_gender(skel: str) -> str | None:
    """FEMALE for Иванова/Достоевская, MALE for Иванов/Достоевский, None for Шевчук or Цой."""
    if surname_base(skel) != skel:
        return FEMALE
    if skel.endswith(_SURNAME_MASCULINE) and len(skel) > 3:
        return MALE
    return None


def is_initial(text: str) -> bool:
    """True for "А", "А.", "a." — one letter standing for a name."""
    return len(normalise_name(text).replace(" ", "")) == 1


def initials(text: str) -> frozenset[str]:
    """Latin initial letters a name may be abbreviated to: "Юлия" → {"i", "u"}."""
    letters = {skeleton(text)[:1].lower()}
    latin = transliterate(text)
    if latin:
        letters.add(latin[0].replace("y", "i").replace("j", "i"))
    norm = normalise_name(text)
    if len(norm) == 1 and norm in _LAT_SET:  # "C." may be a Cyrillic С typed in Latin
        letters |= initials(norm.translate(_TO_CYR))
    return frozenset(letters - {""})


@dataclass(frozen=True, slots=True)
class NamePart:
    """One name field, normalised: folded text, skeleton, equivalence keys, initial letters, gender."""

    text: str
    latin: str
    skel: str
    keys: frozenset[str]
    initials: frozenset[str]
    is_initial: bool
    gender: str | None

    def __bool__(self) -> bool:
        return bool(self.skel)


def _latin(norm: str) -> str:
    return re.sub(r"[^a-z]", "", norm.translate(_CYR_TO_LAT))


@lru_cache(maxsize=65536)
def given_name(text: str) -> NamePart:
    """A first name: its keys are its skeleton plus the full names a diminutive stands for."""
    norm = normalise_name(text)
    skel = skeleton(norm)
    keys = frozenset({skel} | _EXPANSIONS.get(skel, frozenset())) if skel else frozenset()
    gender = given_name_gender(norm)
    return NamePart(norm, _latin(norm), skel, keys, initials(norm), is_initial(norm), gender)


@lru_cache(maxsize=65536)
def surname(text: str) -> NamePart:
    """A surname: its key is the gender-neutral (masculine) skeleton."""
    norm = normalise_name(text)
    skel = skeleton(norm)
    keys = frozenset({surname_base(skel)}) if skel else frozenset()
    gender = surname_gender(skel)
    return NamePart(norm, _latin(norm), skel, keys, initials(norm), is_initial(norm), gender)


@lru_cache(maxsize=65536)
def patronymic(text: str) -> NamePart:
    """A patronymic (middle name)."""
    norm = normalise_name(text)
    skel = skeleton(norm)
    keys = frozenset({skel}) if skel else frozenset()
    gender = patronymic_gender(norm)
    return NamePart(norm, _latin(norm), skel, keys, initials(norm), is_initial(norm), gender)


def within_one_edit(a: str, b: str) -> bool:
    """True when b is a with one letter changed, added, dropped or two neighbours swapped."""
    if abs(len(a) - len(b)) > 1:
        return False
    i = 0
    while i < min(len(a), len(b)) and a[i] == b[i]:
        i += 1
    if len(a) < len(b):
        return a[i:] == b[i + 1 :]
    if len(a) > len(b):
        return a[i + 1 :] == b[i:]
    swapped = a[i : i + 2] == b[i : i + 2][::-1] and a[i + 2 :] == b[i + 2 :]
    return a[i + 1 :] == b[i + 1 :] or swapped


def _initial_outcome(a: NamePart, b: NamePart) -> str | None:
    if a.is_initial or b.is_initial:
        return INITIAL if a.initials & b.initials else DIFFERENT
    return None


def _typo(a: NamePart, b: NamePart) -> bool:
    """One slip of the keyboard, in the letters as typed or on the skeleton (Кнзева / Князева)."""
    if max(len(a.text), len(b.text)) < 4:
        return False
    return (
        within_one_edit(a.text, b.text)
        or within_one_edit(a.latin, b.latin)
        or within_one_edit(a.skel, b.skel)
    )


def compare_given(a: NamePart, b: NamePart) -> str:
    """SAME, TRANSLIT, DIMINUTIVE, INITIAL, TYPO, DIFFERENT or MISSING for two first names."""
    if not a.skel or not b.skel:
        return MISSING
    if a.text == b.text:
        return SAME
    if a.skel == b.skel:
        return TRANSLIT
    if (outcome := _initial_outcome(a, b)) is not None:
        return outcome
    if a.keys & b.keys:
        return DIMINUTIVE
    if a.gender and b.gender and a.gender != b.gender:
        return DIFFERENT  # Евгений / Евгения, Александр / Александра: one letter, two people
    return TYPO if _typo(a, b) else DIFFERENT


def compare_surname(a: NamePart, b: NamePart) -> str:
    """SAME, TRANSLIT, GENDER_FORM (Иванов/Иванова), INITIAL, TYPO, DIFFERENT or MISSING."""
    if not a.skel or not b.skel:
        return MISSING
    if a.text == b.text:
        return SAME
    if a.skel == b.skel:
        return TRANSLIT
    if (outcome := _initial_outcome(a, b)) is not None:
        return outcome
    if a.keys == b.keys:
        return GENDER_FORM
    return TYPO if _typo(a, b) else DIFFERENT


def compare_patronymic(a: NamePart, b: NamePart) -> str:
    """SAME, TRANSLIT, INITIAL (also a cut-short «Серг.» / «Sergeevn»), TYPO, GENDER_FORM, DIFFERENT or
    MISSING (absent on either side is MISSING)."""
    outcome = compare_surname(a, b)
    if outcome in (DIFFERENT, TYPO) and _abbreviated(a, b):
        return INITIAL
    return outcome


def _abbreviated(a: NamePart, b: NamePart) -> bool:
    """One name is the beginning of the other, as typed, in Latin letters or on the skeleton."""
    for x, y in ((a.text, b.text), (a.latin, b.latin), (a.skel, b.skel)):
        short, full = sorted((x.replace(" ", ""), y.replace(" ", "")), key=len)
        if len(short) >= 2 and short != full and full.startswith(short):
            return True
    return False


class OutcomeCache:
    """A compare_* function memoised by the two names' folded texts (which determine their NameParts):
    the same pairs recur across lookups. Bounded: cleared when full."""

    def __init__(self, compare, size: int = 262144):
        self.compare, self.size, self.memo = compare, size, {}

    def __call__(self, a: NamePart, b: NamePart) -> str:
        key = (a.text, b.text)
        found = self.memo.get(key)
        if found is None:
            if len(self.memo) >= self.size:
                self.memo.clear()
            found = self.memo[key] = self.compare(a, b)
        return found

    def cache_clear(self) -> None:
        self.memo.clear()


given_outcome = OutcomeCache(compare_given)
surname_outcome = OutcomeCache(compare_surname)
patronymic_outcome = OutcomeCache(compare_patronymic)


def split_full_name(text: str) -> tuple[str, str, str]:
    """(first, last, middle) from one field: "Петрова Анна Сергеевна", "Анна Петрова", "Анна"."""
    tokens = normalise_name(text).split()
    middle = next((t for t in tokens[1:] if len(tokens) > 2 and is_patronymic(t)), "")
    rest = [t for t in tokens if t != middle]
    if len(rest) < 2:
        return (rest[0] if rest else ""), "", middle
    if is_known_given_name(rest[-1]) and not is_known_given_name(rest[0]):
        return rest[-1], " ".join(rest[:-1]), middle
    if middle and tokens[-1] == middle and not is_known_given_name(rest[0]):
        return rest[1], rest[0], middle  # official order: Фамилия Имя Отчество
    return rest[0], " ".join(rest[1:]), middle
