"""Seeded, labelled synthetic Russian people for measuring the matcher.

people(n, seed) gives base records; labelled_pairs(n, seed) gives, for n base records, one true
duplicate each (1–3 variation kinds applied, at least one e-mail or phone kept), hard negatives
(shared family e-mails, namesakes, mail.ru vs list.ru) and random negatives, each with its kind.
The transliteration here is written independently of b24app.matching so the test is not circular.
"""

import random
import string
from collections.abc import Callable
from dataclasses import dataclass, replace

from b24app.matching import Person, given_name


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


MALE = _words(
    "Александр Алексей Андрей Анатолий Артём Борис Вадим Валентин Валерий Василий Виктор Владимир "
    "Владислав Вячеслав Георгий Геннадий Григорий Денис Дмитрий Евгений Егор Иван Игорь Илья "
    "Кирилл Константин Леонид Максим Михаил Никита Николай Олег Павел Пётр Роман Семён Сергей "
    "Станислав Степан Тимофей Фёдор Юрий Яков Антон Руслан Глеб Даниил Лев Аркадий Эдуард"
)
FEMALE = _words(
    "Александра Алёна Алина Анастасия Анна Валентина Валерия Варвара Вера Вероника Виктория "
    "Галина Дарья Диана Евгения Екатерина Елена Елизавета Жанна Зинаида Ирина Кристина Ксения "
    "Лариса Лидия Любовь Людмила Маргарита Марина Мария Надежда Наталья Нина Оксана Ольга Полина "
    "Светлана Софья Тамара Татьяна Ульяна Юлия Яна Антонина Алла Милана Эльвира Майя Инна"
)
SURNAMES = _words(
    "Иванов Смирнов Кузнецов Попов Васильев Петров Соколов Михайлов Новиков Фёдоров Морозов "
    "Волков Алексеев Лебедев Семёнов Егоров Павлов Козлов Степанов Николаев Орлов Андреев Макаров "
    "Никитин Захаров Зайцев Соловьёв Борисов Яковлев Григорьев Романов Воробьёв Сергеев Кузьмин "
    "Фролов Александров Дмитриев Королёв Гусев Киселёв Ильин Максимов Поляков Сорокин Виноградов "
    "Ковалёв Белов Медведев Антонов Тарасов Жуков Баранов Филиппов Комаров Давыдов Беляев Герасимов "
    "Богданов Осипов Сидоров Матвеев Титов Марков Миронов Крылов Куликов Карпов Власов Мельников "
    "Денисов Гаврилов Тихонов Казаков Афанасьев Данилов Савельев Тимофеев Фомин Чернов Абрамов "
    "Мартынов Ефимов Федотов Щербаков Назаров Калинин Исаев Чернышёв Быков Маслов Родионов Коновалов "
    "Лазарев Воронин Климов Филатов Пономарёв Голубев Кудрявцев Прохоров Наумов Потапов Журавлёв "
    "Овчинников Трофимов Леонов Соболев Ермаков Колесников Гончаров Емельянов Никифоров Грачёв "
    "Котов Гришин Ефремов Архипов Громов Кириллов Малышев Панов Моисеев Румянцев Акимов Кондратьев "
    "Бирюков Горбунов Анисимов Ерёмин Тихомиров Галкин Лукьянов Михеев Скворцов Юдин Белоусов "
    "Нестеров Симонов Прокофьев Харитонов Князев Цветков Левин Митрофанов Воронов Аксёнов Софронов "
    "Мальцев Логинов Горшков Савин Краснов Майоров Демидов Елисеев Рыбаков Сафонов Плотников "
    "Демин Хохлов Жданов Руднев Щукин Шестаков Пахомов Шубин Игнатьев Ковалев Шилов Евдокимов "
    "Троицкий Достоевский Вишневский Покровский Успенский Толстой Шевчук Цой Бондаренко Ким "
    "Петров-Водкин Шевцов Яшин Хабибуллин Гарипов Зуев Щеглов Чайковский Жуковский Юсупов"
)
PATRONYMIC_EXCEPTIONS = {
    "Илья": ("Ильич", "Ильинична"), "Никита": ("Никитич", "Никитична"),
    "Михаил": ("Михайлович", "Михайловна"), "Лев": ("Львович", "Львовна"),
    "Павел": ("Павлович", "Павловна"), "Пётр": ("Петрович", "Петровна"),
    "Дмитрий": ("Дмитриевич", "Дмитриевна"), "Георгий": ("Георгиевич", "Георгиевна"),
    "Даниил": ("Даниилович", "Данииловна"),
}  # fmt: skip
DIMINUTIVE_OF = {
    "Александр": ["Саша", "Шура"], "Александра": ["Саша", "Шура"], "Евгений": ["Женя"],
    "Евгения": ["Женя"], "Елена": ["Лена"], "Дмитрий": ["Дима", "Митя"], "Михаил": ["Миша"],
    "Екатерина": ["Катя"], "Мария": ["Маша", "Маруся"], "Наталья": ["Наташа"], "Татьяна": ["Таня"],
    "Ольга": ["Оля"], "Юлия": ["Юля"], "Иван": ["Ваня"], "Пётр": ["Петя"], "Николай": ["Коля"],
    "Сергей": ["Серёжа"], "Алексей": ["Лёша", "Алёша"], "Анастасия": ["Настя"],
    "Владимир": ["Вова", "Володя"], "Вячеслав": ["Слава"], "Константин": ["Костя"],
    "Павел": ["Паша"], "Георгий": ["Гоша", "Жора"], "Анатолий": ["Толя"], "Светлана": ["Света"],
    "Ирина": ["Ира"], "Людмила": ["Люда"], "Галина": ["Галя"], "Надежда": ["Надя"],
    "Любовь": ["Люба"], "Софья": ["Соня"], "Елизавета": ["Лиза"], "Дарья": ["Даша"],
    "Анна": ["Аня"], "Виктор": ["Витя"], "Юрий": ["Юра"], "Григорий": ["Гриша"],
    "Борис": ["Боря"], "Ксения": ["Ксюша"], "Виктория": ["Вика"], "Валентина": ["Валя"],
    "Станислав": ["Стас", "Слава"], "Владислав": ["Влад"], "Валентин": ["Валя"], "Максим": ["Макс"], "Роман": ["Рома"],
    "Василий": ["Вася"], "Фёдор": ["Федя"], "Семён": ["Сёма"], "Степан": ["Стёпа"],
}  # fmt: skip
DOMAINS = (
    ("gmail.com", 25), ("yandex.ru", 22), ("ya.ru", 4), ("mail.ru", 24), ("list.ru", 5),
    ("bk.ru", 5), ("inbox.ru", 3), ("rambler.ru", 5), ("outlook.com", 3), ("icloud.com", 4),
)  # fmt: skip
YANDEX_FAMILY = ("yandex.ru", "ya.ru", "yandex.com", "yandex.by", "yandex.kz", "yandex.ua")
MAIL_RU_FAMILY = ("mail.ru", "list.ru", "bk.ru", "inbox.ru")

# Per-letter transliteration choices seen in passports, bank cards and hand-typed forms.
TRANSLIT = {
    "а": ["a"], "б": ["b"], "в": ["v"], "г": ["g"], "д": ["d"], "е": ["e"], "ё": ["yo", "e"],
    "ж": ["zh"], "з": ["z"], "и": ["i"], "й": ["y", "i", "j"], "к": ["k"], "л": ["l"],
    "м": ["m"], "н": ["n"], "о": ["o"], "п": ["p"], "р": ["r"], "с": ["s"], "т": ["t"],
    "у": ["u"], "ф": ["f"], "х": ["kh", "h"], "ц": ["ts", "tz"], "ч": ["ch", "tch"],
    "ш": ["sh"], "щ": ["shch", "sch", "sh", "shh"], "ъ": [""], "ы": ["y", "i"],
    "ь": ["", "'"], "э": ["e"], "ю": ["yu", "iu", "ju"], "я": ["ya", "ia", "ja"],
}  # fmt: skip
WESTERN = {"Александр": "Alexander", "Пётр": "Peter", "Ксения": "Xenia", "Юлия": "Julia"}
LOOKALIKE_LOWER = dict(zip("аеорсхук", "aeopcxyk", strict=True))
LOOKALIKE_UPPER = dict(zip("АЕОРСХУКМТНВ", "AEOPCXYKMTHB", strict=True))
KEYBOARD_NEIGHBOURS = "йцукенгшщзхфывапролджэячсмитьбю"


@dataclass(frozen=True)
class Base:
    """A generated person with the facts variations need."""

    person: Person
    gender: str
    father: str


@dataclass(frozen=True)
class LabelledPair:
    """Two records, whether they are the same person, and how the pair was made."""

    a: Person
    b: Person
    same: bool
    kind: str


def patronymic_of(father: str, gender: str) -> str:
    """Иван → Иванович/Ивановна, Сергей → Сергеевич, Юрий → Юрьевич, Игорь → Игоревич."""
    if father in PATRONYMIC_EXCEPTIONS:
        return PATRONYMIC_EXCEPTIONS[father][gender == "f"]
    suffix = "ич" if gender == "m" else "на"
    if father.endswith("ий"):
        return father[:-2] + "ьев" + suffix
    if father.endswith(("й", "ь")):
        return father[:-1] + "ев" + suffix
    return father + "ов" + suffix


def surname_form(surname: str, gender: str) -> str:
    """The surname as a woman of that family writes it: Иванов → Иванова, Троицкий → Троицкая."""
    if gender == "m":
        return surname
    if surname.endswith(("ов", "ев", "ёв", "ин", "ын")):
        return surname + "а"
    if surname.endswith(("ский", "цкий")):
        return surname[:-2] + "ая"
    return surname[:-2] + "ая" if surname.endswith("ой") else surname


def translit_word(rng: random.Random, word: str) -> str:
    """One Latin spelling of a Cyrillic word, letter choices drawn at random."""
    if word in WESTERN and rng.random() < 0.5:
        return WESTERN[word]
    low = word.lower().replace("кс", "x" if rng.random() < 0.3 else "кс")
    if low.endswith("ий"):
        low = low[:-2] + "\0" + rng.choice(["iy", "y", "ii", "ij", "i"])
    out = "".join(rng.choice(TRANSLIT[ch]) if ch in TRANSLIT else ch for ch in low)
    return out.replace("\0", "").capitalize()


class Generator:
    """A seeded source of people, duplicates and hard negatives."""

    def __init__(self, seed: int = 24) -> None:
        self.rng = random.Random(seed)
        self.used_emails: set[str] = set()
        self.used_phones: set[str] = set()
        self.count = 0

    # --- base records -------------------------------------------------------------------------

    def phone(self) -> str:
        while (digits := "9" + "".join(self.rng.choices(string.digits, k=9))) in self.used_phones:
            pass
        self.used_phones.add(digits)
        return self.format_phone(digits)

    def format_phone(self, digits: str) -> str:
        a, b, c, d = digits[:3], digits[3:6], digits[6:8], digits[8:]
        return self.rng.choice([
            f"+7{digits}", f"8{digits}", f"+7 ({a}) {b}-{c}-{d}", f"8 ({a}) {b}-{c}-{d}",
            f"8-{a}-{b}-{c}-{d}", f"+7 {a} {b} {c} {d}", f"7{digits}", f"{a} {b}-{c}-{d}",
            f"+7 {a} {b}-{c}-{d} доб. {self.rng.randint(1, 999)}", f"+7({a}){b}{c}{d}",
        ])  # fmt: skip

    def local_part(self, first: str, last: str) -> str:
        f, l_ = translit_word(self.rng, first).lower(), translit_word(self.rng, last).lower()
        f, l_ = (x.replace("'", "").replace("-", "") for x in (f, l_))
        year = str(self.rng.randint(1950, 2010))
        return self.rng.choice([
            f"{f}.{l_}", f"{l_}{year[2:]}", f"{f[0]}{l_}", f"{f}_{l_}{self.rng.randint(1, 99)}",
            f"{l_}.{f}", f"{f}{l_}{year}", f"{l_}-{f[0]}", f"{f}.{l_}{year[2:]}",
        ])  # fmt: skip

    def email(self, first: str, last: str, domain: str | None = None) -> str:
        domains, weights = zip(*DOMAINS, strict=True)
        domain = domain or self.rng.choices(domains, weights)[0]
        local = self.local_part(first, last)
        while f"{local}@{domain}" in self.used_emails:
            local += str(self.rng.randint(0, 9))
        self.used_emails.add(f"{local}@{domain}")
        return f"{local}@{domain}"

    def base(self, gender: str | None = None, surname: str | None = None) -> Base:
        rng = self.rng
        gender = gender or rng.choice("mf")
        first = rng.choice(MALE if gender == "m" else FEMALE)
        family = surname or rng.choice(SURNAMES)
        father = rng.choice(MALE)
        return self.make(first, family, gender, father, middle=rng.random() < 0.7)

    def make(self, first: str, family: str, gender: str, father: str, middle: bool = True) -> Base:
        rng = self.rng
        last = surname_form(family, gender)
        has_email, has_phone = rng.choice(
            [(True, True), (True, True), (True, False), (False, True)]
        )
        self.count += 1
        person = Person(
            first=first,
            last=last,
            middle=patronymic_of(father, gender) if middle else "",
            emails=(self.email(first, last),) if has_email else (),
            phones=(self.phone(),) if has_phone else (),
            id=f"p{self.count}",
        )
        return Base(person, gender, father)

    # --- variations of one person (a true duplicate) --------------------------------------------

    def typo(self, word: str) -> str:
        if len(word) < 5:
            return word
        i = self.rng.randint(
            1, len(word) - 3
        )  # never the first or last letter: endings carry gender
        letters = KEYBOARD_NEIGHBOURS if "а" <= word[i].lower() <= "я" else string.ascii_lowercase
        return self.rng.choice([
            word[:i] + self.rng.choice(letters) + word[i + 1 :],
            word[:i] + word[i + 1 :],
            word[:i] + word[i + 1] + word[i] + word[i + 2 :],
            word[:i] + word[i] + word[i:],
        ])  # fmt: skip

    def lookalike(self, word: str) -> str:
        chars = list(word)
        spots = [i for i, ch in enumerate(chars) if ch in LOOKALIKE_LOWER or ch in LOOKALIKE_UPPER]
        for i in self.rng.sample(spots, min(len(spots), self.rng.randint(1, 2))):
            chars[i] = LOOKALIKE_LOWER.get(chars[i]) or LOOKALIKE_UPPER[chars[i]]
        return "".join(chars)

    def variant(self, base: Base) -> tuple[Person, str]:
        """A duplicate of the base person with 1–3 variation kinds; returns it and the kinds."""
        p = self.keep_contacts(base.person)
        kinds = self.rng.sample(sorted(VARIATIONS), self.rng.randint(1, 3))
        applied = []
        for kind in kinds:
            changed = VARIATIONS[kind](self, p, base)
            if changed is not None and changed != p:
                p = changed
                applied.append(kind)
        return replace(p, id=None), "+".join(applied) or "exact"

    def keep_contacts(self, p: Person) -> Person:
        if p.emails and p.phones:
            keep = self.rng.choices(["both", "email", "phone"], [5, 3, 2])[0]
            if keep == "email":
                return replace(p, phones=())
            if keep == "phone":
                return replace(p, emails=())
        return p

    # --- hard negatives ---------------------------------------------------------------------------

    def other_first(self, first: str, gender: str) -> str:
        """A first name that is neither this one nor one of its diminutives."""
        pool = MALE if gender == "m" else FEMALE
        while (name := self.rng.choice(pool)) == first or (
            given_name(name).keys & given_name(first).keys
        ):
            pass
        return name

    def relative(
        self, base: Base, gender: str, first: str, father: str, phone: bool
    ) -> Person | None:
        """A family member registered under the base person's e-mail (and maybe home phone)."""
        if not base.person.emails:
            return None
        family = surname_form_base(base.person.last)
        rel = self.make(first, family, gender, father, middle=bool(base.person.middle)).person
        phones = base.person.phones if phone and base.person.phones else rel.phones
        return replace(rel, emails=base.person.emails, phones=phones)

    def spouse(self, base: Base) -> Person | None:
        gender = "f" if base.gender == "m" else "m"
        return self.relative(
            base, gender, self.other_first("", gender), self.rng.choice(MALE), False
        )

    def parent_or_child(self, base: Base) -> Person | None:
        gender = self.rng.choice("mf")
        first = self.other_first(base.person.first, gender)
        father = base.person.first if base.gender == "m" else self.rng.choice(MALE)
        return self.relative(base, gender, first, father, self.rng.random() < 0.3)

    def sibling(self, base: Base) -> Person | None:
        gender = self.rng.choice("mf")
        first = self.other_first(base.person.first, gender)
        return self.relative(base, gender, first, base.father, self.rng.random() < 0.3)

    def opposite_twin(self, base: Base) -> Person | None:
        """Саша Иванов and Саша Иванова sharing a parent's address: same diminutive, other gender."""
        shared = {"Александр": "Александра", "Евгений": "Евгения", "Валентин": "Валентина"}
        pairs = shared | {v: k for k, v in shared.items()}
        if base.person.first not in pairs:
            return None
        gender = "f" if base.gender == "m" else "m"
        sibling = self.relative(base, gender, pairs[base.person.first], base.father, False)
        short = self.rng.choice(DIMINUTIVE_OF[pairs[base.person.first]])
        return replace(sibling, first=short) if sibling else None

    def twin_shared_phone(self, base: Base) -> Person | None:
        """A twin: one surname and patronymic, another first name, the family's home phone."""
        if not base.person.phones:
            return None
        gender = self.rng.choice("mf")
        first = self.other_first(base.person.first, gender)
        family = surname_form_base(base.person.last)
        twin = self.make(first, family, gender, base.father, middle=bool(base.person.middle))
        return replace(twin.person, phones=base.person.phones)

    def parent_child_same_name(self, base: Base) -> Person | None:
        """Father and son (mother and daughter) with one first name and the family's e-mail (maybe its
        phone too): only the patronymics tell them apart."""
        p = base.person
        if not p.middle or not p.emails:
            return None
        father = self.rng.choice([m for m in MALE if patronymic_of(m, base.gender) != p.middle])
        return self.relative(base, base.gender, p.first, father, self.rng.random() < 0.5)

    def colleague_shared_inbox(self, base: Base) -> Person | None:
        """A colleague writing from the same office inbox and phone."""
        if not base.person.emails:
            return None
        gender = self.rng.choice("mf")
        first = self.other_first(base.person.first, gender)
        other = self.make(first, self.rng.choice(SURNAMES), gender, self.rng.choice(MALE)).person
        return replace(other, emails=base.person.emails, phones=base.person.phones or other.phones)

    def gendered_first_name(self, base: Base) -> Person | None:
        """Евгений Иванов and Евгения Иванова (Александр/Александра …) of one family, full names."""
        shared = {"Александр": "Александра", "Евгений": "Евгения", "Валентин": "Валентина"}
        pairs = shared | {v: k for k, v in shared.items()}
        if base.person.first not in pairs:
            return None
        gender = "f" if base.gender == "m" else "m"
        return self.relative(
            base, gender, pairs[base.person.first], base.father, self.rng.random() < 0.5
        )

    def namesake(self, base: Base) -> Person:
        p = base.person
        other = self.make(p.first, surname_form_base(p.last), base.gender, base.father).person
        phones = other.phones or (self.phone(),)
        return replace(
            other,
            middle=p.middle,
            emails=other.emails or (self.email(p.first, p.last),),
            phones=phones,
        )

    def namesake_other_patronymic(self, base: Base) -> Person:
        p = base.person
        father = self.rng.choice([m for m in MALE if patronymic_of(m, base.gender) != p.middle])
        other = self.make(p.first, surname_form_base(p.last), base.gender, father).person
        return replace(other, middle=patronymic_of(father, base.gender))

    def mailru_neighbour(self, base: Base) -> tuple[Person, Person]:
        """Same first name, same login, mail.ru vs list.ru: two mailboxes, two people."""
        a = self.make(base.person.first, self.rng.choice(SURNAMES), base.gender, base.father).person
        b = self.make(base.person.first, self.rng.choice(SURNAMES), base.gender, base.father).person
        login = (
            f"{translit_word(self.rng, base.person.first).lower()}{self.rng.randint(1960, 2005)}"
        )
        login = login.replace("'", "")
        d1, d2 = self.rng.sample(MAIL_RU_FAMILY, 2)
        return replace(a, emails=(f"{login}@{d1}",)), replace(b, emails=(f"{login}@{d2}",))


def surname_form_base(last: str) -> str:
    """Back from a surname as written to the family form in SURNAMES (Иванова → Иванов)."""
    return _FAMILY_BY_FORM.get(last, last)


_FAMILY_BY_FORM = {surname_form(s, g): s for s in SURNAMES for g in "mf"}


# --- the variation kinds: each returns the changed person, or None when it does not apply -------


def _names(p: Person, fn: Callable[[str], str], fields=("first", "last", "middle")) -> Person:
    return replace(p, **{f: fn(getattr(p, f)) for f in fields if getattr(p, f)})


def _case(g: Generator, p: Person, base: Base) -> Person:
    return _names(p, g.rng.choice([str.upper, str.lower, lambda s: s[:1].lower() + s[1:].upper()]))


def _yo(g: Generator, p: Person, base: Base) -> Person | None:
    return _names(p, lambda s: s.replace("ё", "е")) if "ё" in p.first + p.last + p.middle else None


def _lookalike(g: Generator, p: Person, base: Base) -> Person:
    return _names(p, g.lookalike, fields=(g.rng.choice(["first", "last"]),))


def _translit(g: Generator, p: Person, base: Base) -> Person:
    return _names(p, lambda s: "-".join(translit_word(g.rng, w) for w in s.split("-")))


def _drop_patronymic(g: Generator, p: Person, base: Base) -> Person | None:
    return replace(p, middle="") if p.middle else None


def _swap(g: Generator, p: Person, base: Base) -> Person:
    return replace(p, first=p.last, last=p.first)


def _diminutive(g: Generator, p: Person, base: Base) -> Person | None:
    shorts = DIMINUTIVE_OF.get(p.first)
    return replace(p, first=g.rng.choice(shorts)) if shorts else None


def _initials(g: Generator, p: Person, base: Base) -> Person:
    middle = p.middle[:1] + "." if p.middle and g.rng.random() < 0.5 else p.middle
    return replace(p, first=p.first[:1] + ".", middle=middle)


def _patronymic_short(g: Generator, p: Person, base: Base) -> Person | None:
    """Сергеевна written «Серг.» or «Сергеевн» cut short by a form's field."""
    if len(p.middle) < 6:
        return None
    return replace(p, middle=p.middle[: g.rng.randint(3, 5)] + g.rng.choice([".", ""]))


def _name_typo(g: Generator, p: Person, base: Base) -> Person:
    field = g.rng.choice(["first", "last"])
    return replace(p, **{field: g.typo(getattr(p, field))})


def _email(fn: Callable[[Generator, str, str], str | None]):
    def vary(g: Generator, p: Person, base: Base) -> Person | None:
        if not p.emails:
            return None
        local, domain = p.emails[0].split("@")
        changed = fn(g, local, domain)
        return replace(p, emails=(changed,)) if changed else None

    return vary


def _gmail_dots(g: Generator, local: str, domain: str) -> str | None:
    if domain != "gmail.com":
        return None
    bare = local.replace(".", "")
    spots = sorted(g.rng.sample(range(1, len(bare)), min(2, len(bare) - 1)))
    return (
        ".".join(bare[i:j] for i, j in zip([0, *spots], [*spots, None], strict=True)) + "@gmail.com"
    )


def _plus_tag(g: Generator, local: str, domain: str) -> str | None:
    if domain not in ("gmail.com", *YANDEX_FAMILY):
        return None
    return f"{local}+{g.rng.choice(['donate', 'news', 'fond', 'timepad', '2024'])}@{domain}"


def _googlemail(g: Generator, local: str, domain: str) -> str | None:
    return f"{local}@googlemail.com" if domain == "gmail.com" else None


def _yandex_alias(g: Generator, local: str, domain: str) -> str | None:
    if domain not in YANDEX_FAMILY:
        return None
    return f"{local}@{g.rng.choice([d for d in YANDEX_FAMILY if d != domain])}"


def _email_case(g: Generator, local: str, domain: str) -> str:
    return f"{local.capitalize()}@{domain.upper() if g.rng.random() < 0.5 else domain}"


def _email_typo(g: Generator, local: str, domain: str) -> str | None:
    changed = g.typo(local)
    return f"{changed}@{domain}" if changed != local else None


def _phone_format(g: Generator, p: Person, base: Base) -> Person | None:
    if not p.phones:
        return None
    digits = "".join(ch for ch in p.phones[0].split("доб.")[0] if ch.isdigit())
    return replace(p, phones=(g.format_phone(digits[-10:]),))


VARIATIONS: dict[str, Callable[[Generator, Person, Base], Person | None]] = {
    "case": _case,
    "yo": _yo,
    "lookalike": _lookalike,
    "translit": _translit,
    "drop_patronymic": _drop_patronymic,
    "swap": _swap,
    "diminutive": _diminutive,
    "initials": _initials,
    "patronymic_short": _patronymic_short,
    "name_typo": _name_typo,
    "email_case": _email(_email_case),
    "gmail_dots": _email(_gmail_dots),
    "plus_tag": _email(_plus_tag),
    "googlemail": _email(_googlemail),
    "yandex_alias": _email(_yandex_alias),
    "email_typo": _email(_email_typo),
    "phone_format": _phone_format,
}

HARD_NEGATIVES: dict[str, Callable[[Generator, Base], Person | None]] = {
    "spouse_shared_email": Generator.spouse,
    "parent_child_shared_email": Generator.parent_or_child,
    "sibling_shared_email": Generator.sibling,
    "opposite_gender_diminutive": Generator.opposite_twin,
    "namesake": Generator.namesake,
    "namesake_other_patronymic": Generator.namesake_other_patronymic,
    "twins_shared_phone": Generator.twin_shared_phone,
    "parent_child_same_name": Generator.parent_child_same_name,
    "shared_office_inbox": Generator.colleague_shared_inbox,
    "gendered_first_name_one_family": Generator.gendered_first_name,
}


def people(n: int, seed: int = 24) -> list[Person]:
    """n base records (unique e-mails and phones; names repeat, as in life)."""
    g = Generator(seed)
    return [g.base().person for _ in range(n)]


def labelled_pairs(n: int = 5000, seed: int = 24) -> list[LabelledPair]:
    """For n base records: n true duplicates, ~0.6 n hard negatives and ~0.2 n random negatives."""
    g = Generator(seed)
    bases = [g.base() for _ in range(n)]
    pairs = []
    for base in bases:
        duplicate, kind = g.variant(base)
        pairs.append(LabelledPair(base.person, duplicate, True, kind))
    for base in g.rng.sample(bases, n // 2):
        kind = g.rng.choice(sorted(HARD_NEGATIVES))
        other = HARD_NEGATIVES[kind](g, base)
        if other is not None:
            pairs.append(LabelledPair(base.person, other, False, kind))
    for base in g.rng.sample(bases, n // 10):
        a, b = g.mailru_neighbour(base)
        pairs.append(LabelledPair(a, b, False, "mailru_vs_listru_same_login"))
    for _ in range(n // 5):
        a, b = g.rng.sample(bases, 2)
        pairs.append(LabelledPair(a.person, b.person, False, "random"))
    return pairs
