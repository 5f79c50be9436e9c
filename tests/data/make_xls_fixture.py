"""Writes ``tests/data/casme_a_coding.xls``: the CASME Section A coding sheet of tests/release_fixtures.py
(made-up rows, no real data) in the old Excel format the original CASME release ships.

Run once, with xlwt (not a melib dependency: melib only reads .xls, with xlrd), from the repository root:
    pip install --target /tmp/xlwt xlwt==1.3.0
    PYTHONPATH=/tmp/xlwt:tests python tests/data/make_xls_fixture.py
"""
from pathlib import Path

import xlwt

import release_fixtures as rf

HEAD = ["Subject", "Filename", "OnsetF", "ApexF1", "ApexF2", "OffsetF", "Duration", "AUs", "Emotion"]


def main(path=Path(__file__).parent / "casme_a_coding.xls") -> None:
    book = xlwt.Workbook()
    sheet = book.add_sheet("Sheet1")
    rows = [HEAD] + [[c.subject, c.name, c.onset, c.apex, c.extra["apex2"], c.offset, None, c.aus, c.emotion]
                     for c in rf.CASME_A]
    for i, row in enumerate(rows):
        for j, value in enumerate(row):
            if value is not None:
                sheet.write(i, j, value)
    book.save(str(path))


if __name__ == "__main__":
    main()
