"""The loan tape: its format and the import that validates and loads it.

- ``format``: the tape's columns, in order, each of a kind; the loan columns they fill.
- ``kinds``: the registry of column kinds, each declaring every form of its rule.
- ``reading``: upload detection, the header check, and a tape's cells as Arrow blocks
  (``xlsx``: an XLSX sheet through fastexcel).
- ``fast_load``: a clean tape checked in Arrow, hashed, and COPYed in binary.
- ``sql_load``: the SQL path, which decides and reports every error.
- ``hashing``: the borrower id's HMAC, in Python and in SQL.
- ``disclosure``: the package's summary and stratification, computed in SQL.
- ``progress``: rows processed, reported live, and the phases' timings.
- ``errors``: a tape's errors (line, column, code, message) and the fast path's miss.
- ``context``: ``TapeJob``, one import's context, passed whole to each step.
- ``importer``: ``loan_tape_process``, the import from start to finish.
"""
