"""The event lexicon: ``event_lexicon.yaml`` (data, one commented entry per PLOVER category),
validated, indexed and loaded once; and the spaCy Matcher of its multiword phrases.

    >>> lex = lexicon()
    >>> lex.verbs["shell"], lex.nouns["withdrawal"], lex.has("reporting", "say")
    ('ASSAULT', 'RETREAT', True)
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml
from spacy.matcher import PhraseMatcher
from spacy.tokens import Doc
from spacy.vocab import Vocab

__all__ = ["CATEGORIES", "SKIP", "Lexicon", "lexicon", "matcher"]

#: The PLOVER categories this typer can return (the names of the PLOVER gold-standard records).
CATEGORIES = (
    "AGREE", "CONSULT", "SUPPORT", "COOPERATE", "AID", "CONCEDE", "RETREAT", "INVESTIGATE",
    "DEMAND", "DISAPPROVE", "REJECT", "THREATEN", "PROTEST", "SANCTION", "MOBILIZE", "COERCE",
    "ASSAULT", "FIGHT",
)  # fmt: skip

#: A frame entry saying "this verb with this object is no event" ("released a statement").
SKIP = "_skip"


@dataclass(frozen=True)
class Lexicon:
    """The event lexicon, validated and indexed for lookups."""

    verbs: dict[str, str]  # lemma or "lemma particle" -> category
    nouns: dict[str, str]  # lemma or "modifier lemma" -> category
    frames: dict[str, tuple[tuple[str, str], ...]]  # verb -> ((class or _obj/_any, category), …)
    classes: dict[str, frozenset[str]]
    modified: dict[str, tuple[tuple[str, frozenset[str]], ...]]  # noun -> ((category, mods), …)
    phrases: dict[str, tuple[str, ...]]  # category -> lemma sequences
    words: dict[str, frozenset[str]]  # the named word lists (reporting, control_intent, …)

    def has(self, listname: str, word: str) -> bool:
        """Whether ``word`` is in the list ``listname`` (e.g. ``"reporting"``)."""
        return word in self.words[listname]


_WORD_LISTS = (
    "joint_nouns", "joint_modifiers", "reporting", "control_observed", "control_intent",
    "intent_adjectives", "vow_verbs", "command_verbs", "unconventional_means", "conventional_means",
    "casualty_verbs", "subject_frames",
)  # fmt: skip
_MODALITY_LISTS = (
    "intent_aux", "rule_aux", "deontic_aux", "deontic_verbs", "deontic_adjectives", "negations",
    "conditionals", "denial_verbs", "deniable", "rule_sources", "generic_subjects", "hedges",
)  # fmt: skip


def _strings(value: Any, where: str) -> tuple[str, ...]:
    # YAML 1.1 turns bare on/off/yes/no into booleans; refuse them rather than look up "False".
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"event lexicon: {where} must be a list of strings, got {value!r}")
    return tuple(v.lower() for v in value)


def _index_categories(raw: dict[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    verbs: dict[str, str] = {}
    nouns: dict[str, str] = {}
    for category, entry in raw.items():
        if category not in CATEGORIES:
            raise ValueError(f"event lexicon: unknown category {category!r}")
        for verb in _strings(entry.get("verbs", []), f"{category}.verbs"):
            verbs.setdefault(verb, category)
        for noun in _strings(entry.get("nouns", []), f"{category}.nouns"):
            nouns.setdefault(noun, category)
    return verbs, nouns


def _index_frames(raw: dict[str, Any], classes: dict[str, frozenset[str]]) -> dict[str, Any]:
    frames: dict[str, tuple[tuple[str, str], ...]] = {}
    for verb, entries in raw.items():
        for cls, category in entries.items():
            known = category in CATEGORIES or category == SKIP
            if not known or (cls not in classes and cls not in ("_obj", "_any")):
                raise ValueError(f"event lexicon: frame {verb}: {cls}: {category}")
        frames[str(verb).lower()] = tuple((str(c), str(k)) for c, k in entries.items())
    return frames


def _parse_lexicon(data: dict[str, Any]) -> Lexicon:
    classes = {k: frozenset(_strings(v, f"classes.{k}")) for k, v in data["classes"].items()}
    verbs, nouns = _index_categories(data["categories"])
    modified = {
        noun: tuple((cat, frozenset(_strings(mods, f"{noun}.{cat}"))) for cat, mods in e.items())
        for noun, e in data["modified_nouns"].items()
    }
    phrases = {cat: _strings(p, f"phrases.{cat}") for cat, p in data["phrases"].items()}
    words = {name: frozenset(_strings(data[name], name)) for name in _WORD_LISTS}
    for name in _MODALITY_LISTS:
        words[name] = frozenset(_strings(data["modality"][name], f"modality.{name}"))
    return Lexicon(verbs, nouns, _index_frames(data["frames"], classes), classes, modified,
                   phrases, words)  # fmt: skip


@functools.cache
def lexicon() -> Lexicon:
    """The shipped lexicon (``event_lexicon.yaml`` next to this module), parsed once."""
    text = resources.files("detente.extract").joinpath("event_lexicon.yaml").read_text("utf-8")
    return _parse_lexicon(yaml.safe_load(text))


@functools.cache
def matcher(vocab: Vocab) -> PhraseMatcher:
    """A PhraseMatcher on lemmas for the lexicon's multiword phrases, one per vocabulary.

    Pattern documents are built with their lemmas set directly (no pipeline needed); matching on
    the lemma makes "exchanges of fire" and "took control" match "exchange of fire", "take
    control". Lemmas of common words are lower case in spaCy's English lemmatizer.
    """
    phrase_matcher = PhraseMatcher(vocab, attr="LEMMA")
    for category, phrases in lexicon().phrases.items():
        docs = []
        for phrase in phrases:
            words = phrase.split()
            doc = Doc(vocab, words=words)
            for token, word in zip(doc, words, strict=True):
                token.lemma_ = word
            docs.append(doc)
        phrase_matcher.add(category, docs)
    return phrase_matcher
