"""Label schemes: the papers' ways of turning a clip's emotion and AUs into a class."""
from __future__ import annotations


def _combos(*specs: str) -> tuple[frozenset[int], ...]:
    return tuple(frozenset(int(a) for a in s.split("+")) for s in specs)


# PSN Table 2: objective classes I–VII and their AU combinations (VII = every other AU set).
OBJECTIVE_AU_COMBOS: dict[str, tuple[frozenset[int], ...]] = {
    "I": _combos("6", "12", "6+12", "6+7+12", "7+12"),
    "II": _combos("1+2", "5", "25", "1+2+25", "25+26", "5+24"),
    "III": _combos("23", "4", "4+7", "4+5+7", "17+24", "4+6+7", "4+38"),
    "IV": _combos("10", "9", "4+9", "4+40", "4+5+40", "4+7+9", "4+9+17", "4+7+10", "4+5+7+9", "7+10"),
    "V": _combos("1", "15", "1+4", "6+15", "15+17"),
    "VI": _combos("1+2+4", "20"),
    "VII": (),
}
OBJECTIVE_EMOTION = {"I": "happiness", "II": "surprise", "III": "anger", "IV": "disgust",
                     "V": "sadness", "VI": "fear", "VII": "others"}
