"""The book's bibliography style (a Sphinx extension, ``book/_config.yml``): entries labelled as the text cites them,
"Li et al., 2022" (``bibtex_default_style: melib_author_year``), so that a citation and its entry read alike;
"n.d." where the source states no year."""
from __future__ import annotations

from collections import Counter

from pybtex.plugin import register_plugin
from pybtex.style.formatting.unsrt import Style as UnsrtStyle
from pybtex.style.labels import BaseLabelStyle
from pybtex.style.sorting.author_year_title import SortingStyle


def author_year(entry) -> str:
    """"Li, 2022", "Li and Wang, 2022" or "Li et al., 2022" from a pybtex entry."""
    names = [" ".join(p.last_names) for p in entry.persons.get("author", entry.persons.get("editor", []))]
    who = (names[0] if len(names) == 1 else f"{names[0]} and {names[1]}" if len(names) == 2
           else f"{names[0]} et al." if names else entry.key)
    return f"{who}, {entry.fields.get('year', 'n.d.')}"


class AuthorYearLabels(BaseLabelStyle):
    def format_labels(self, sorted_entries):
        entries = list(sorted_entries)
        labels = [author_year(e) for e in entries]
        seen, count = Counter(), Counter(labels)
        for label in labels:  # two entries with one label: 2013a, 2013b
            seen[label] += 1
            yield label + (chr(ord("a") + seen[label] - 1) if count[label] > 1 else "")


class AuthorYearStyle(UnsrtStyle):
    default_label_style = AuthorYearLabels
    default_sorting_style = SortingStyle


register_plugin("pybtex.style.labels", "melib_author_year", AuthorYearLabels)
register_plugin("pybtex.style.formatting", "melib_author_year", AuthorYearStyle)


def setup(app):
    return {"parallel_read_safe": True, "parallel_write_safe": True}
