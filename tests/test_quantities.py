"""One quantity, one value (issue 19 item 2): melib.quantities reads the quantities a built page states (marked
spans, tables by their columns) and names each one stated with two values. The built smoke book is checked in
tests/test_book.py (test_each_quantity_is_stated_once)."""
from __future__ import annotations

import json

import pandas as pd
from markdown_it import MarkdownIt

from melib import display, quantities, recipes


def _html(markdown: str) -> str:
    """Markdown as the book renders it: tables, and inline HTML kept."""
    return MarkdownIt("commonmark", {"html": True}).enable("table").render(markdown)


def _chapter_box(paper: str) -> str:
    """The "does this recipe learn?" part of a model chapter's opening box, as views.opening writes it."""
    panel = recipes.panel(paper)
    return panel.attrs["finding"] + "\n\n" + display.markdown_table(panel)


def test_a_chapter_panel_and_its_finding_state_each_recipe_check_once():
    found = quantities.read(_html(_chapter_box("C3D")), "12_c3d.html", paper="C3D")
    checks = found[found["kind"] == "recipe check"]
    assert {"verdict (by rule)", "UAR at top"} <= {json.loads(k)["column"] for k in checks["key"]}
    marked = quantities.read(_html(recipes.panel("C3D").attrs["finding"]), "x.html")
    assert len(marked) >= 2  # the verdict and the nearest variant's UAR at top, marked in the sentence
    assert set(marked["key"]) <= set(checks["key"])  # ... and stated in the table under the same key
    assert quantities.conflicts(found).empty


def test_two_values_of_one_quantity_are_found_across_pages():
    box = _chapter_box("C3D")
    verdict = recipes.panel("C3D")["verdict (by rule)"].iloc[0]
    other = "learns" if verdict != "learns" else "does not learn"
    tampered = box.replace(f">{verdict}</span>", f">{other}</span>", 1)
    assert tampered != box
    found = pd.concat([quantities.read(_html(box), "12_c3d.html", paper="C3D"),
                               quantities.read(_html(tampered), "40_known_answer.html", paper="C3D")], ignore_index=True)
    bad = quantities.conflicts(found)
    assert len(bad) == 1 and set(bad["values"].iloc[0]) == {verdict, other}
    assert "12_c3d.html" in quantities.describe(bad) and "40_known_answer.html" in quantities.describe(bad)


def test_numbers_agree_at_the_coarser_statement():
    assert quantities.same("0.848", "0.85") and quantities.same("0.85", "0.845") and quantities.same("5", "5")
    assert not quantities.same("0.85", "0.86") and not quantities.same("0.518", "0.590")
    assert not quantities.same("16", "5") and not quantities.same("learns", "does not learn")


def test_a_settings_table_states_batch_and_epochs_per_paper():
    table = display.Table(recipes.described())._repr_html_()[0]
    page = table + display.Table(recipes.described().assign(batch=1))._repr_html_()[0]
    found = quantities.read(table, "40_known_answer.html")
    keys = {json.loads(k)["paper"] for k in found.loc[found["kind"] == "recipe setting", "key"]}
    assert keys == set(recipes.MAIN)
    assert quantities.conflicts(found).empty
    bad = quantities.conflicts(quantities.read(page, "p.html"))
    assert {json.loads(k)["column"] for k in bad["key"]} == {"batch"}


def test_marked_text_reads_as_plain_text():
    m = quantities.mark("recipe check", {"paper": "PSN", "recipe": "paper"}, "learns")
    assert quantities.plain(f"PSN's recipe {m}.") == "PSN's recipe learns."
