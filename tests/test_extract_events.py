"""Event typer: categories, modality, actor/target on sentences written for these tests (none is
from the PLOVER gold file), the lexicon's validation, and the benchmark's scoring arithmetic
checked against a hand computation."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from spacy.tokens import Span

from detente.extract._types import EventGuess
from detente.extract.event_lexicon import CATEGORIES, _parse_lexicon, lexicon
from detente.extract.events import analyse, classify, plover_category

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def sentence() -> Callable[[str], Span]:
    """The first sentence of a text, parsed by the shared pipeline (loaded once per session)."""
    from detente.extract import nlp

    pipeline = nlp()
    return lambda text: next(pipeline(text).sents)


@pytest.fixture(scope="session")
def guess(sentence: Callable[[str], Span]) -> Callable[[str], EventGuess]:
    return lambda text: classify(sentence(text))


@pytest.fixture(scope="session")
def bench() -> ModuleType:
    """benchmarks/bench_events.py, imported from its path (benchmarks is not a package)."""
    path = ROOT / "benchmarks" / "bench_events.py"
    if str(path.parent) not in sys.path:  # as when run as a script: its helpers sit beside it
        sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location("bench_events", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_events"] = module  # dataclasses resolve their module by name
    spec.loader.exec_module(module)
    return module


# --------------------------------------------------------------------------------------------
# Categories: the domain vocabulary first, then one or more sentences per PLOVER category

DOMAIN = [
    ("Russia has massed about 100,000 troops near the border.", "MOBILIZE"),
    ("The army moved 40 tanks to the border area.", "MOBILIZE"),
    ("Russia launched large-scale military exercises in the western district.", "MOBILIZE"),
    ("China put its forces on high alert.", "MOBILIZE"),
    ("Belarus called up reservists for snap drills.", "MOBILIZE"),
    ("Both sides pulled back heavy weapons from the contact line.", "RETREAT"),
    ("The army removed 40 tanks from the buffer zone.", "RETREAT"),
    ("Russian troops withdrew from the village on Sunday.", "RETREAT"),
    ("Russia invited observers to the exercise.", "RETREAT"),
    ("Government forces observed the truce throughout the weekend.", "RETREAT"),
    ("Ukrainian forces shelled positions near Donetsk.", "ASSAULT"),
    ("Russian aircraft carried out air strikes on Aleppo.", "ASSAULT"),
    ("Government troops clashed with rebels near the border.", "FIGHT"),
    ("Heavy fighting broke out between the two armies.", "FIGHT"),
    ("The two sides exchanged fire across the line of contact.", "FIGHT"),
    ("Both sides agreed on a ceasefire along the contact line.", "AGREE"),
    ("A ceasefire was signed in Minsk on Thursday.", "AGREE"),
    ("Polish and Lithuanian troops held joint exercises near Suwalki.", "COOPERATE"),
    ("OSCE monitors inspected the weapons storage site near Luhansk.", "INVESTIGATE"),
]

CATEGORY_CASES = [
    ("Moscow offered to host a new round of negotiations.", "AGREE"),
    ("Turkish officials held talks with a Russian delegation in Ankara.", "CONSULT"),
    ("Putin spoke by telephone with the French president about the crisis.", "CONSULT"),
    ("Japan recognised the new state on Thursday.", "SUPPORT"),
    ("Colombia extradited three drug suspects to the United States.", "COOPERATE"),
    ("Japan sent 20 tonnes of food and medicine to the flood victims.", "AID"),
    ("Sweden granted asylum to the dissident journalist.", "AID"),
    ("The government lifted the curfew in the capital.", "CONCEDE"),
    ("The rebels released twelve hostages on Tuesday.", "RETREAT"),
    ("The UN launched an inquiry into the killings.", "INVESTIGATE"),
    ("NATO called on Russia to withdraw its forces from the border.", "DEMAND"),
    ("Kyiv accused Moscow of violating the ceasefire.", "DISAPPROVE"),
    ("The rebels rejected the government's peace proposal.", "REJECT"),
    ("Moscow turned down an invitation to the summit.", "REJECT"),
    ("The EU warned Belarus of new sanctions.", "THREATEN"),
    ("The rebels vowed to attack the capital.", "THREATEN"),
    ("Thousands of students demonstrated in Tehran against the election result.", "PROTEST"),
    ("Workers at the plant went on strike over unpaid wages.", "PROTEST"),
    ("Lithuania expelled two Russian diplomats.", "SANCTION"),
    ("Canada recalled its ambassador from Riyadh.", "SANCTION"),
    ("Police arrested twenty opposition activists.", "COERCE"),
    ("The government imposed a curfew in the eastern provinces.", "COERCE"),
    ("Gunmen kidnapped two aid workers in northern Mali.", "ASSAULT"),
    ("Armenian troops occupied the district.", "FIGHT"),
    ("Two soldiers were killed in clashes with separatists.", "FIGHT"),
]


@pytest.mark.parametrize(("text", "category"), DOMAIN + CATEGORY_CASES)
def test_category(guess: Callable[[str], EventGuess], text: str, category: str) -> None:
    assert guess(text).event_type == category


@pytest.mark.parametrize(
    "text",
    [
        "The weather was mild.",
        "The report has 40 pages.",
        "The capital has a population of two million.",
        "The minister is 54 years old.",
    ],
)
def test_no_event(guess: Callable[[str], EventGuess], text: str) -> None:
    g = guess(text)
    assert g.event_type is None and g.confidence == 0.0 and g.trigger == ""


def test_same_verb_different_object(guess: Callable[[str], EventGuess]) -> None:
    # "withdraw" is RETREAT for forces but SANCTION for diplomats (PLOVER SANCTION: "withdrawal,
    # or expulsion of diplomats"); "send" is MOBILIZE, AID or INVESTIGATE by what is sent
    assert guess("Russia withdrew its troops from Syria.").event_type == "RETREAT"
    assert guess("Russia withdrew its ambassador from Kyiv.").event_type == "SANCTION"
    assert guess("Thousands of troops have been sent to the border.").event_type == "MOBILIZE"
    assert guess("Japan sent medicine to the refugees.").event_type == "AID"
    assert guess("The UN sent investigators to the camp.").event_type == "INVESTIGATE"
    # the most specific key decides: "pull out of" talks is SANCTION, of a town RETREAT
    assert guess("Russia pulled out of the talks in Geneva.").event_type == "SANCTION"
    assert guess("Russian troops pulled out of the town.").event_type == "RETREAT"


def test_strike_depends_on_its_modifier(guess: Callable[[str], EventGuess]) -> None:
    assert guess("The jailed activist began a hunger strike.").event_type == "PROTEST"
    assert guess("Israel carried out air strikes on Gaza.").event_type == "ASSAULT"


# --------------------------------------------------------------------------------------------
# Modality


@pytest.mark.parametrize(
    ("text", "category", "modality"),
    [
        ("Exercises above 13,000 troops require observers.", "MOBILIZE", "rule"),
        ("The parties shall withdraw heavy weapons 50 km from the line.", "RETREAT", "rule"),
        ("Under the Vienna Document, states must notify exercises above 9,000 troops.",
         "MOBILIZE", "rule"),
        ("The deployment of heavy weapons within 15 km of the line is prohibited.",
         "MOBILIZE", "rule"),
        ("Both sides are obliged to pull back all artillery.", "RETREAT", "rule"),
        ("The agreement requires the withdrawal of foreign forces.", "RETREAT", "rule"),
        ("Russia has massed about 100,000 troops near the border.", "MOBILIZE", "observed"),
        ("Russia banned the opposition party on Monday.", "COERCE", "observed"),
        ("Russian troops began to withdraw from the border on Tuesday.", "RETREAT", "observed"),
        ("Russia said it would pull back some troops.", "RETREAT", "intent"),
        ("Russia plans to deploy more troops to Belarus.", "MOBILIZE", "intent"),
        ("Russian troops could invade Ukraine within weeks.", "FIGHT", "intent"),
        ("If NATO expands further, Russia will deploy missiles in Kaliningrad.",
         "MOBILIZE", "intent"),
        ("The army is going to withdraw from the city.", "RETREAT", "intent"),
        ("Putin ordered the troops to pull back.", "RETREAT", "intent"),
    ],
)  # fmt: skip
def test_modality(
    guess: Callable[[str], EventGuess], text: str, category: str, modality: str
) -> None:
    g = guess(text)
    assert (g.event_type, g.modality) == (category, modality)


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("Russia threatened to invade Ukraine.", "THREATEN"),
        ("Kyiv demanded that Russia withdraw its troops.", "DEMAND"),
        ("Both sides agreed to withdraw heavy weapons.", "AGREE"),
        ("Israel refused to release the prisoners.", "REJECT"),
    ],
)
def test_speech_acts_are_observed_events(
    guess: Callable[[str], EventGuess], text: str, category: str
) -> None:
    # the threat, demand, agreement or refusal was made: the speech act is what happened
    g = guess(text)
    assert (g.event_type, g.modality) == (category, "observed")


def test_negation_and_denial_are_not_observations(guess: Callable[[str], EventGuess]) -> None:
    for text in (
        "Russia did not withdraw its troops.",
        "No troops were withdrawn from the area.",
    ):
        g = guess(text)
        assert g.event_type == "RETREAT" and g.modality == "intent", text
    denied = guess("Moscow denied sending troops into Ukraine.")
    assert denied.event_type == "MOBILIZE" and denied.modality == "intent"
    reports = guess("Moscow denied reports of a troop build-up.")
    assert reports.event_type == "MOBILIZE" and reports.modality == "intent"


def test_reported_obligation_is_a_demand(guess: Callable[[str], EventGuess]) -> None:
    g = guess("The Red Cross said Russian forces must allow aid convoys into the city.")
    assert (g.event_type, g.modality, g.actor, g.target) == (
        "DEMAND", "observed", "The Red Cross", "Russian forces"
    )  # fmt: skip


def test_hedges_lower_confidence(guess: Callable[[str], EventGuess]) -> None:
    plain = guess("Ukrainian forces shelled positions near Donetsk.")
    hedged = guess("Ukrainian forces reportedly shelled positions near Donetsk.")
    assert hedged.event_type == plain.event_type == "ASSAULT"
    assert hedged.modality == "observed"
    assert hedged.confidence < plain.confidence


def test_confidence_orders_root_verb_before_dependent_noun(
    guess: Callable[[str], EventGuess],
) -> None:
    verb = guess("Russia massed troops near the border.")
    noun = guess("Russia launched large-scale military exercises near the border.")
    assert 0 < noun.confidence < verb.confidence <= 1


# --------------------------------------------------------------------------------------------
# Actor and target


@pytest.mark.parametrize(
    ("text", "actor", "target"),
    [
        ("Russia has massed about 100,000 troops near the border.", "Russia", None),
        ("Ukrainian forces shelled positions near Donetsk.", "Ukrainian forces", "positions"),
        ("Russia said it would pull back some troops.", "Russia", None),
        ("Iraqi forces invaded Kuwait in August.", "Iraqi forces", "Kuwait"),
        ("Three journalists were arrested by police in Minsk on Friday.", "police",
         "Three journalists"),
        ("Russia threatened to invade Ukraine.", "Russia", "Ukraine"),
        ("Kyiv demanded that Russia withdraw its troops.", "Kyiv", "Russia"),
        ("The foreign ministers of France and Germany met in Paris on Monday.",
         "France and Germany", None),
        ("Thousands of students demonstrated in Tehran against the election result.",
         "Thousands of students", None),
        ("Russian aircraft carried out air strikes on Aleppo.", "Russian aircraft", "Aleppo"),
        ("The Ukrainian army accused Russia of shelling Kharkiv.", "The Ukrainian army",
         "Russia"),
    ],
)  # fmt: skip
def test_actor_and_target(
    guess: Callable[[str], EventGuess], text: str, actor: str, target: str | None
) -> None:
    g = guess(text)
    assert (g.actor, g.target) == (actor, target)


def test_passive_without_agent_has_no_actor(guess: Callable[[str], EventGuess]) -> None:
    g = guess("Police reinforcements were deployed to the capital.")
    assert g.event_type == "MOBILIZE" and g.actor is None


# --------------------------------------------------------------------------------------------
# PLOVER coding conventions (what the benchmark scores)


def test_plover_category_conventions(sentence: Callable[[str], Span]) -> None:
    assert plover_category("RETREAT", "intent", {"future"}) == "AGREE"
    assert plover_category("RETREAT", "intent", {"negated"}) == "RETREAT"
    assert plover_category("PROTEST", "intent", {"future", "conditional"}) == "THREATEN"
    assert plover_category("ASSAULT", "observed", {"conventional"}) == "FIGHT"
    assert plover_category("ASSAULT", "rule") == "ASSAULT"
    assert plover_category(None, "observed") is None
    # shelling by armed forces is CAMEO 19 (FIGHT) in the gold records; a car bomb stays ASSAULT
    assert analyse(sentence("Ukrainian forces shelled positions near Donetsk.")).plover == "FIGHT"
    car_bomb = analyse(sentence("A car bomb killed nine people outside the police station."))
    assert (car_bomb.guess.event_type, car_bomb.plover) == ("ASSAULT", "ASSAULT")


def test_extract_claims_uses_the_typer() -> None:
    from detente.extract import extract_claims

    claims = extract_claims(
        "The weather was mild. Russia has massed about 100,000 troops near the border.", doc="d"
    )
    assert [(c.event_type, c.modality, c.actor) for c in claims] == [
        ("MOBILIZE", "observed", "Russia")
    ]


# --------------------------------------------------------------------------------------------
# The lexicon


def test_shipped_lexicon_is_valid() -> None:
    lex = lexicon()
    assert set(lex.verbs.values()) | set(lex.nouns.values()) <= set(CATEGORIES)
    assert {"RETREAT", "MOBILIZE", "ASSAULT", "FIGHT"} <= set(lex.verbs.values())
    assert lex.verbs["pull back"] == "RETREAT" and lex.nouns["build-up"] == "MOBILIZE"


def _minimal(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "categories": {"RETREAT": {"verbs": ["withdraw"], "nouns": ["withdrawal"]}},
        "frames": {}, "classes": {}, "modified_nouns": {}, "phrases": {},
        "modality": {name: [] for name in (
            "intent_aux", "rule_aux", "deontic_aux", "deontic_verbs", "deontic_adjectives",
            "negations", "conditionals", "denial_verbs", "deniable", "rule_sources",
            "generic_subjects", "hedges")},
    }  # fmt: skip
    for name in (
        "joint_nouns",
        "joint_modifiers",
        "reporting",
        "control_observed",
        "control_intent",
        "intent_adjectives",
        "vow_verbs",
        "command_verbs",
        "unconventional_means",
        "conventional_means",
        "casualty_verbs",
        "subject_frames",
    ):
        data[name] = []
    data.update(changes)
    return data


def test_lexicon_validation() -> None:
    assert _parse_lexicon(_minimal()).verbs == {"withdraw": "RETREAT"}
    with pytest.raises(ValueError, match="list of strings"):  # YAML 1.1 reads bare `off` as False
        _parse_lexicon(_minimal(reporting=["say", False]))
    with pytest.raises(ValueError, match="unknown category"):
        _parse_lexicon(_minimal(categories={"RETREET": {"verbs": ["withdraw"]}}))
    with pytest.raises(ValueError, match="frame"):
        _parse_lexicon(_minimal(frames={"send": {"nonexistent_class": "AID"}}))


# --------------------------------------------------------------------------------------------
# The benchmark's arithmetic


def test_score_against_hand_computation(bench: ModuleType) -> None:
    gold = ["A", "A", "A", "B", "B", "C"]
    pred = ["A", "A", "B", "B", None, "A"]
    s = bench.score(gold, pred)
    # A: TP 2, predicted 3, gold 3 -> P = R = F1 = 2/3
    # B: TP 1, predicted 2, gold 2 -> P = R = F1 = 1/2
    # C: TP 0, never predicted     -> P = R = F1 = 0
    assert s["per_category"]["A"] == pytest.approx(
        {"precision": 2 / 3, "recall": 2 / 3, "f1": 2 / 3, "support": 3}
    )
    assert s["per_category"]["B"] == pytest.approx(
        {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}
    )
    assert s["per_category"]["C"]["f1"] == 0.0
    assert s["macro_f1"] == pytest.approx((2 / 3 + 1 / 2 + 0) / 3)  # 7/18
    assert s["accuracy"] == pytest.approx(3 / 6)


def test_score_unequal_precision_and_recall(bench: ModuleType) -> None:
    # A predicted 4 times, right 2 of 2: P = 1/2, R = 1, F1 = 2PR/(P+R) = 2/3; an extra label D
    # that gold never has is not averaged into macro-F1
    s = bench.score(["A", "A", "B", "B", "B"], ["A", "A", "A", "A", "D"])
    a = s["per_category"]["A"]
    assert (a["precision"], a["recall"], a["f1"]) == pytest.approx((0.5, 1.0, 2 / 3))
    assert set(s["per_category"]) == {"A", "B"}
    assert s["macro_f1"] == pytest.approx((2 / 3 + 0) / 2)
    assert s["accuracy"] == pytest.approx(2 / 5)
    with pytest.raises(ValueError):
        bench.score(["A"], [])


def test_split_is_stable_and_uses_both_halves(bench: ModuleType) -> None:
    records = bench.load_gold()
    assert len(records) == 163
    halves = {r.half for r in records}
    assert halves == {"dev", "held-out"}
    assert all(bench.half_of(r.id) == r.half for r in records)
    assert bench.half_of("PLOVER-GSR01-AGREE-0001") == bench.half_of("PLOVER-GSR01-AGREE-0001")


def test_actor_matching(bench: ModuleType) -> None:
    assert bench.actor_matches("The United States", ["United States"])
    assert bench.actor_matches("Afghan rebels", ["Afghan rebels", "Pakistan"])
    assert not bench.actor_matches("Moscow", ["Kyiv"])
    assert not bench.actor_matches(None, ["Kyiv"])
