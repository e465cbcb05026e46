"""How far the fast lane can be trusted: a UML cell's results against a VM cell of the same release and corpus
(:mod:`.measure`: every divergence classified by cause, what UML judges), and the record of one such measurement
that the docs' tables are generated from (:mod:`.record`)."""

from harness.fidelity.measure import (AFTER_VERIFICATION, NOT_COVERED, UML_ONLY, Cause, Divergence, Fidelity,
                                      cause_of, check_pair, compare, pairs, render, render_md, uml_only, uncovered,
                                      verifier_agrees, verifier_answer, verifier_verdict)
from harness.fidelity.record import Record, load, render_page, save

__all__ = ["AFTER_VERIFICATION", "NOT_COVERED", "UML_ONLY", "Cause", "Divergence", "Fidelity", "Record", "cause_of",
           "check_pair", "compare", "load", "pairs", "render", "render_md", "render_page", "save", "uml_only",
           "uncovered", "verifier_agrees", "verifier_answer", "verifier_verdict"]
