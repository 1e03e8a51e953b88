"""What words a Vosk model can decode, and how a grammar phrase is spelled in them.

A Vosk grammar word that is not in the model's vocabulary is dropped with a warning, silently
changing the grammar. So every phrase is segmented into model words before it reaches the
recognizer: a word the model knows is kept; any other is split into the fewest known pieces
(Korean models often know 맞아 and 요 but not 맞아요; Chinese models know words, not sentences).
A piece that cannot be spelled at all is reported, never guessed.

The word list comes from the model itself: ``graph/words.txt`` where a model ships one,
otherwise the word symbol table stored inside ``graph/Gr.fst`` (OpenFst writes a symbol table as
magic, name, available key (int64), count (int64), then count x (int32 length, bytes, int64 key)).

``decoder_grammar`` is the one door between a step's phrases and a Vosk recognizer: it spells
every phrase for that model (cached per model and phrase list), drops a phrase it cannot spell
whole (a phrase Vosk would silently shorten, "不是我借" heard as "不是", is worse than none) and
warns once per phrase, and keeps ``[unk]`` only where the model has that word.
"""
from __future__ import annotations

import functools
import logging
import os
import struct
import threading
from dataclasses import dataclass, field

log = logging.getLogger(__name__)
UNK = "[unk]"
SPECIAL = {"<eps>", "!SIL", "<UNK>", "<unk>", "[unk]", "#0", "<s>", "</s>"}


class VocabularyError(RuntimeError):
    """The model directory has no readable word list."""


def read_words_txt(path: str, skip=SPECIAL) -> set[str]:
    words = set()
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            parts = line.split()
            if parts and parts[0] not in skip:
                words.add(parts[0])
    return words


def read_fst_symbols(path: str, table: bytes = b"words.txt", skip=SPECIAL) -> set[str]:
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
        if word not in skip:
            words.add(word)
    return words


@functools.lru_cache(maxsize=8)
def _symbols(model_dir: str) -> tuple[frozenset[str], bool]:
    """(the model's words without special symbols, whether ``[unk]`` is one of its words)."""
    keep_unk = SPECIAL - {UNK}
    for rel in ("graph/words.txt", "words.txt"):
        path = os.path.join(model_dir, rel)
        if os.path.isfile(path):
            words = read_words_txt(path, skip=keep_unk)
            break
    else:
        for rel in ("graph/Gr.fst", "graph/HCLG.fst"):
            path = os.path.join(model_dir, rel)
            if os.path.isfile(path):
                words = read_fst_symbols(path, skip=keep_unk)
                break
        else:
            raise VocabularyError(f"{model_dir}: no graph/words.txt or graph/Gr.fst to read the vocabulary from")
    has_unk = UNK in words
    words.discard(UNK)
    return frozenset(words), has_unk


def model_words(model_dir: str) -> frozenset[str]:
    """The vocabulary of the Vosk model in ``model_dir`` (cached per directory)."""
    return _symbols(model_dir)[0]


def knows_unk(model_dir: str) -> bool:
    """Whether the model has the ``[unk]`` word, i.e. a garbage path for grammar mode."""
    return _symbols(model_dir)[1]


@dataclass
class Spelling:
    phrase: str
    tokens: list[str] = field(default_factory=list)     # model words, in order
    missing: list[str] = field(default_factory=list)    # pieces no model word spells
    # every piece in order, with whether the model knows it (for showing a segmentation)
    parts: list[tuple[str, bool]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.missing

    def shown(self) -> str:
        """The segmentation for people: ``不是 本人``, unknown pieces as ``<经理?>``."""
        return " ".join(p if known else f"<{p}?>" for p, known in self.parts)


def _split(word: str, vocab, max_piece: int = 8) -> list[tuple[str, bool]]:
    """Pieces that spell ``word``: fewest unknown characters first, then fewest pieces.

    An unknown character stands alone as a piece marked False; neighbouring unknown characters
    are merged afterwards so a missing word is reported once ("经理", not "经" and "理").
    """
    n = len(word)
    # best[i] = (unknown chars, pieces, path) for word[:i]
    best: list[tuple[int, int, list[tuple[str, bool]]] | None] = [None] * (n + 1)
    best[0] = (0, 0, [])
    for i in range(n):
        if best[i] is None:
            continue
        unknown, count, path = best[i]
        steps = [(word[i:j], True) for j in range(min(n, i + max_piece), i, -1) if word[i:j] in vocab]
        if not steps:
            steps = [(word[i], False)]
        for piece, known in steps:
            j = i + len(piece)
            cand = (unknown + (0 if known else len(piece)), count + 1, path + [(piece, known)])
            if best[j] is None or cand[:2] <= best[j][:2]:  # on a tie the longer leading pieces win
                best[j] = cand
    merged: list[tuple[str, bool]] = []
    for piece, known in best[n][2]:
        if merged and not known and not merged[-1][1]:
            merged[-1] = (merged[-1][0] + piece, False)
        else:
            merged.append((piece, known))
    return merged


def spell(phrase: str, vocab) -> Spelling:
    """Segment ``phrase`` (space-separated words, or unsegmented Chinese) into model words."""
    out = Spelling(phrase)
    for word in phrase.split():
        parts = [(word, True)] if word in vocab else _split(word, vocab)
        for piece, known in parts:
            out.parts.append((piece, known))
            (out.tokens if known else out.missing).append(piece)
    return out


_warned: set[tuple[str, str]] = set()
_grammar_lock = threading.Lock()  # recognizers are made on several threads: read a vocabulary once


@functools.lru_cache(maxsize=64)
def _decoder_grammar(model_dir: str, phrases: tuple[str, ...]) -> tuple[str, ...]:
    if os.path.isfile(os.path.join(model_dir, "graph", "HCLG.fst")) and (model_dir, "HCLG") not in _warned:
        _warned.add((model_dir, "HCLG"))
        log.warning("%s has a static graph (graph/HCLG.fst): Vosk ignores grammars with it and decodes free-form; "
                    "install a model with runtime graphs, e.g. vosk-model-small-cn-0.22 (`ivr models add`)", model_dir)
    try:
        vocab = model_words(model_dir)
        unk = knows_unk(model_dir)
    except (OSError, ValueError, VocabularyError, struct.error) as exc:
        log.warning("cannot read the vocabulary of %s (%s): grammar passed to Vosk unspelled", model_dir, exc)
        return phrases
    out: list[str] = []
    for phrase in phrases:
        if phrase == UNK:
            if unk:
                out.append(UNK)
            continue
        spelled = spell(phrase, vocab)
        if spelled.ok:
            out.append(" ".join(spelled.tokens))
        elif (model_dir, phrase) not in _warned:
            _warned.add((model_dir, phrase))
            log.warning("grammar phrase %r dropped: %s not in the vocabulary of %s (spelled %s)",
                        phrase, ", ".join(spelled.missing), model_dir, spelled.shown())
    return tuple(dict.fromkeys(out))


def decoder_grammar(model_dir: str, phrases) -> list[str]:
    """``phrases`` as the model in ``model_dir`` can decode them: spelled in its own words.

    A phrase with a piece the model cannot spell is left out (warned once); ``[unk]`` is kept
    only if the model has it. Cached per (model, phrase list), so a step costs one lookup.
    """
    with _grammar_lock:
        return list(_decoder_grammar(str(model_dir), tuple(phrases)))
