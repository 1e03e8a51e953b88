"""What words a Vosk model can decode, and how a grammar phrase is spelled in them.

A Vosk grammar word that is not in the model's vocabulary is dropped with a warning, silently
changing the grammar. So every phrase is segmented into model words before it reaches the
recognizer: a word the model knows is kept; any other is split into the fewest known pieces
(Korean models often know 맞아 and 요 but not 맞아요; Chinese models know words, not sentences).
A piece that cannot be spelled at all is reported, never guessed.

The word list comes from the model itself: ``graph/words.txt`` where a model ships one,
otherwise the word symbol table stored inside ``graph/Gr.fst`` (OpenFst writes a symbol table as
magic, name, available key (int64), count (int64), then count x (int32 length, bytes, int64 key)).
"""
from __future__ import annotations

import functools
import os
import struct
from dataclasses import dataclass, field

SPECIAL = {"<eps>", "!SIL", "<UNK>", "<unk>", "[unk]", "#0", "<s>", "</s>"}


class VocabularyError(RuntimeError):
    """The model directory has no readable word list."""


def read_words_txt(path: str) -> set[str]:
    words = set()
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            parts = line.split()
            if parts and parts[0] not in SPECIAL:
                words.add(parts[0])
    return words


def read_fst_symbols(path: str, table: bytes = b"words.txt") -> set[str]:
    with open(path, "rb") as fh:
        head = fh.read(64 * 1024 * 1024)
    at = head.find(table)
    if at < 0:
        raise VocabularyError(f"{path}: no word symbol table inside")
    i = at + len(table)
    _avail, n = struct.unpack_from("<qq", head, i)
    i += 16
    words = set()
    for _ in range(n):
        (ln,) = struct.unpack_from("<i", head, i)
        i += 4
        word = head[i:i + ln].decode("utf-8", "replace")
        i += ln + 8
        if word not in SPECIAL:
            words.add(word)
    return words


@functools.lru_cache(maxsize=8)
def model_words(model_dir: str) -> frozenset[str]:
    """The vocabulary of the Vosk model in ``model_dir`` (cached per directory)."""
    for rel in ("graph/words.txt", "words.txt"):
        path = os.path.join(model_dir, rel)
        if os.path.isfile(path):
            return frozenset(read_words_txt(path))
    for rel in ("graph/Gr.fst", "graph/HCLG.fst"):
        path = os.path.join(model_dir, rel)
        if os.path.isfile(path):
            return frozenset(read_fst_symbols(path))
    raise VocabularyError(f"{model_dir}: no graph/words.txt or graph/Gr.fst to read the vocabulary from")


@dataclass
class Spelling:
    phrase: str
    tokens: list[str] = field(default_factory=list)     # model words, in order
    missing: list[str] = field(default_factory=list)    # pieces no model word spells

    @property
    def ok(self) -> bool:
        return not self.missing


def _split(word: str, vocab, max_piece: int = 8) -> list[str] | None:
    """Fewest vocabulary pieces that spell ``word`` exactly, or None."""
    n = len(word)
    best: list[list[str] | None] = [None] * (n + 1)
    best[0] = []
    for i in range(n):
        if best[i] is None:
            continue
        for j in range(min(n, i + max_piece), i, -1):
            piece = word[i:j]
            if piece in vocab:
                cand = best[i] + [piece]
                if best[j] is None or len(cand) < len(best[j]):
                    best[j] = cand
    return best[n]


def spell(phrase: str, vocab) -> Spelling:
    """Segment ``phrase`` (space-separated words, or unsegmented Chinese) into model words."""
    out = Spelling(phrase)
    for word in phrase.split():
        if word in vocab:
            out.tokens.append(word)
            continue
        pieces = _split(word, vocab)
        if pieces is None:
            out.missing.append(word)
        else:
            out.tokens.extend(pieces)
    return out
