"""Real-ish named-entity sentences for the spans tests: news-like templates over real names.

Every sentence comes with its true spans (character offsets), like an annotator's final value.
Names, places and organisations are drawn from separate lists for the first and the second half of
the sentences, so a model judged on later sentences meets names it never saw and must go by the
words around them and their shape.
"""
from __future__ import annotations

import random

PEOPLE = ["Angela Merkel", "Barack Obama", "Marie Curie", "Ada Lovelace", "Nelson Mandela", "Alan Turing",
          "Frida Kahlo", "Serena Williams", "Kofi Annan", "Greta Thunberg", "Elon Musk", "Jacinda Ardern",
          "Lionel Messi", "Toni Morrison", "Haruki Murakami", "Malala Yousafzai", "Emmanuel Macron",
          "Indira Gandhi", "Pedro Almodovar", "Yuri Gagarin", "Rosa Parks", "Vincent van Gogh",
          "Amelia Earhart", "Desmond Tutu", "Tim Berners-Lee", "Simone de Beauvoir", "Ai Weiwei",
          "Wangari Maathai", "Carl Sagan", "Mo Farah", "Zadie Smith", "Chimamanda Adichie"]
PLACES = ["Paris", "Berlin", "Nairobi", "Tokyo", "Buenos Aires", "New York", "Lagos", "Mumbai", "Sydney",
          "Cape Town", "Toronto", "Oslo", "Lisbon", "Seoul", "Mexico City", "Cairo", "Istanbul", "Lima",
          "Vienna", "Hanoi", "Dublin", "Santiago", "Helsinki", "Accra", "Montreal", "Kyoto", "Warsaw",
          "Marrakesh", "Reykjavik", "Bogota"]
ORGS = ["Siemens", "the United Nations", "Google", "Reuters", "the World Bank", "Toyota", "UNESCO",
        "Greenpeace", "the Red Cross", "Microsoft", "Airbus", "Nokia", "the BBC", "Amnesty International",
        "Samsung", "Oxfam", "Unilever", "the IMF", "Spotify", "Philips", "Interpol", "Nestle",
        "Volkswagen", "Ericsson"]

# {P}: a person, {L}: a place, {O}: an organisation; the other words are never part of a span.
TEMPLATES = [
    "{P} visited {L} on Monday.",
    "{P} met officials from {O} in {L}.",
    "In {L}, {P} said the talks had gone well.",
    "{O} opened a new office in {L} last year.",
    "A spokesman for {O} declined to comment.",
    "{P} and {P} spoke at a conference in {L}.",
    "Shares of {O} rose sharply after the report.",
    "The mayor of {L} thanked {P} for the visit.",
    "{P}, who grew up in {L}, now works for {O}.",
    "Nothing unusual happened in the city yesterday.",
    "According to {O}, prices in {L} fell by two percent.",
    "Fans waited for hours to see {P}.",
    "{O} and {O} signed an agreement on Tuesday.",
    "The weather was mild and the markets were quiet.",
    "{P} flew from {L} to {L} for the meeting.",
    "Officials at {O} praised {P} for her work.",
]
LABELS = ["PER", "LOC", "ORG"]
_KIND = {"P": ("PER", PEOPLE), "L": ("LOC", PLACES), "O": ("ORG", ORGS)}


def sentence(template: str, rng: random.Random, pools: dict[str, list[str]]) -> tuple[str, list[dict]]:
    text, spans = "", []
    rest = template
    while "{" in rest:
        before, _, after = rest.partition("{")
        kind, after = after[0], after[2:]
        text += before
        label, _ = _KIND[kind]
        name = rng.choice(pools[kind])
        spans.append({"start": len(text), "end": len(text) + len(name), "label": label})
        text += name
        rest = after
    return text + rest, spans


def sentences(n: int, seed: int = 0) -> list[tuple[str, list[dict]]]:
    """`n` sentences with their true spans; the names of the second half are unseen in the first."""
    rng = random.Random(seed)
    halves = [{k: pool[: len(pool) // 2] for k, (_, pool) in _KIND.items()},
              {k: pool[len(pool) // 2:] for k, (_, pool) in _KIND.items()}]
    out = []
    for i in range(n):
        out.append(sentence(rng.choice(TEMPLATES), rng, halves[0 if i < n // 2 else 1]))
    return out


def records(n: int, gold: int, seed: int = 0) -> tuple[list[dict], dict[str, list[dict]]]:
    """Import records of `n` sentences, the first `gold` with their spans as gold; true spans by external id."""
    out, truth = [], {}
    for i, (text, spans) in enumerate(sentences(n, seed)):
        ext = f"ner-{i}"
        truth[ext] = spans
        out.append({"data": {"text": text}, "external_id": ext, **({"gold": {"spans": spans}} if i < gold else {})})
    return out, truth
