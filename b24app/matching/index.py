"""An in-memory blocking index: the few people worth scoring against one person, found fast.

Blocking keys: every canonical e-mail (and its review key), every E.164 phone, and the surname
skeleton paired with each first-name key (the skeleton and the full names a diminutive stands for),
in both name orders; plus surname + initial, used when one side gives only an initial.
"""

from collections.abc import Iterable, Iterator

from . import names
from .score import Decision, Person, Profile, Verdict, compare_profiles, profile

# A key shared by more people than this is a placeholder (no@mail.ru, an office switchboard, the
# commonest name) and stops being a block; such people are still found through their other keys.
MAX_BLOCK = 200

_RANK = {Decision.DIFFERENT: 0, Decision.REVIEW: 1, Decision.SAME: 2}


def _name_keys(last: str, first: names.NamePart) -> set[str]:
    return {f"n:{last}|{key}" for key in first.keys} if last else set()


def blocking_keys(p: Profile) -> set[str]:
    """The keys a stored person is filed under."""
    keys = {f"e:{email}" for email in p.emails | p.review_emails}
    keys |= {f"p:{phone}" for phone in p.phones}
    keys |= _name_keys(p.last.skel, p.first)
    keys |= _name_keys(p.first.skel, names.given_name(p.last.text))
    keys |= {f"i:{p.last.skel}|{i}" for i in p.first.initials if p.last.skel}
    return keys


def query_keys(p: Profile) -> set[str]:
    """The keys looked up for one person: a full first name also finds people stored with only
    its initial ("n:…|a"), an initial finds everyone with that surname and initial ("i:…")."""
    keys = {key for key in blocking_keys(p) if not key.startswith("i:")}
    if not p.last.skel:
        return keys
    if p.first.is_initial:
        return keys | {f"i:{p.last.skel}|{i}" for i in p.first.initials}
    return keys | {f"n:{p.last.skel}|{i}" for i in p.first.initials}


class PersonIndex:
    """Many people, filed by blocking keys; candidates() and best_matches() for one person."""

    def __init__(self, people: Iterable[Person] = ()) -> None:
        self._profiles: list[Profile] = []
        self._blocks: dict[str, list[int]] = {}
        self.add_all(people)

    def __len__(self) -> int:
        return len(self._profiles)

    def add(self, person: Person) -> None:
        """File one person."""
        p = profile(person)
        position = len(self._profiles)
        self._profiles.append(p)
        for key in blocking_keys(p):
            self._blocks.setdefault(key, []).append(position)

    def add_all(self, people: Iterable[Person]) -> None:
        """File many people."""
        for person in people:
            self.add(person)

    def _candidate_positions(self, p: Profile) -> list[int]:
        found: set[int] = set()
        for key in query_keys(p):
            block = self._blocks.get(key)
            if block and len(block) <= MAX_BLOCK:
                found.update(block)
        return sorted(found)

    def candidates(self, person: Person) -> list[Person]:
        """The stored people sharing a blocking key with this one (itself excluded)."""
        return [
            self._profiles[i].person
            for i in self._candidate_positions(profile(person))
            if self._profiles[i].person is not person
        ]

    def best_matches(
        self, person: Person, limit: int = 5, at_least: Decision = Decision.REVIEW
    ) -> list[tuple[Person, Verdict]]:
        """Candidates scored, those at or above `at_least`, best first, at most `limit`."""
        query = profile(person)
        scored = []
        for i in self._candidate_positions(query):
            other = self._profiles[i]
            if other.person is person:
                continue
            verdict = compare_profiles(query, other)
            if _RANK[verdict.decision] >= _RANK[at_least]:
                scored.append((other.person, verdict))
        scored.sort(key=lambda pair: (-_RANK[pair[1].decision], -pair[1].score))
        return scored[:limit]

    def duplicate_pairs(
        self, at_least: Decision = Decision.REVIEW
    ) -> Iterator[tuple[Person, Person, Verdict]]:
        """Every pair of stored people sharing a block and judged at or above `at_least`, once."""
        seen: set[tuple[int, int]] = set()
        for block in self._blocks.values():
            if len(block) < 2 or len(block) > MAX_BLOCK:
                continue
            for n, i in enumerate(block):
                for j in block[n + 1 :]:
                    if (i, j) in seen:
                        continue
                    seen.add((i, j))
                    verdict = compare_profiles(self._profiles[i], self._profiles[j])
                    if _RANK[verdict.decision] >= _RANK[at_least]:
                        yield self._profiles[i].person, self._profiles[j].person, verdict
