"""Load and check a follow-up flow (flows/*.yaml) before any call runs it.

A flow is data: named nodes of five kinds (say, ask, branch, transfer, hangup). Loading checks that
every target exists, every node is reachable from the start, every prompt exists in every locale
with only known placeholders, and every question's understanding step has a grammar in every
locale. Problems carry the file and line they come from.
"""
from __future__ import annotations

import string
from dataclasses import dataclass, field
from pathlib import Path

import yaml

KINDS = ("say", "ask", "branch", "transfer", "hangup")
STEPS = ("identity", "digits", "plan", "confirm")
# silence that ends the borrower's turn, by kind of question: yes/no answers are short and end fast;
# people pause inside dates, amounts and digit strings
END_SILENCE_MS = {"identity": 300, "confirm": 300, "plan": 400, "digits": 700}
# questions answered in a word or two (yes / no / later / an agent): once what was heard so far reads as a
# whole answer, this much silence ends the turn (ivr/dialog/turns.py); never where people pause inside
# an answer (dates, amounts, digits), so a promise is never cut short
COMPLETE_SILENCE_MS = {"identity": 200, "confirm": 200}
CONDITIONS = ("id_matches", "promise_complete")
ACTIONS = ("record_promise", "schedule_callback", "escalate")
CAPTURES = ("callback_time",)
KEYPAD_MODES = ("menu", "date", "time")
PLACEHOLDERS = {"lender", "name", "amount", "due_date", "promise_date", "promise_amount", "digits"}
NODE_KEYS = {"say", "ask", "branch", "transfer", "hangup", "next", "when", "step", "reprompt", "timeout_ms",
             "retries", "max_digits", "on_no_input", "on_no_match", "result", "action", "capture", "keypad", "end_silence_ms",
             "readback"}


@dataclass(frozen=True)
class Problem:
    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


class FlowError(ValueError):
    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


@dataclass
class Node:
    name: str
    kind: str
    prompt: str | None
    line: int
    next: str | None = None
    when: dict[str, str] = field(default_factory=dict)
    step: str | None = None
    reprompt: str | None = None
    timeout_ms: int = 5000
    retries: int = 1
    max_digits: int = 1
    on_no_input: str | None = None
    on_no_match: str | None = None
    condition: str | None = None
    result: str | None = None
    action: str | None = None
    capture: str | None = None
    keypad: str = "menu"           # menu: one key per choice; date: MMDD; time: HHMM
    end_silence_ms: int | None = None  # default: END_SILENCE_MS of the step
    # intents whose values the flow reads back to the borrower anyway (a promise): an unsure answer
    # with one of them goes on to that read-back instead of a separate confirmation
    readback: tuple[str, ...] = ()

    def targets(self) -> list[str]:
        out = [t for t in (self.next, self.on_no_input, self.on_no_match) if t]
        return out + list(self.when.values())


@dataclass
class Flow:
    name: str
    start: str
    nodes: dict[str, Node]
    file: str


def _line_map(text: str) -> dict[tuple, int]:
    """Line number (1-based) of every mapping key, by its path of keys."""
    lines: dict[tuple, int] = {}

    def walk(node, path):
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                p = path + (str(key.value),)
                lines[p] = key.start_mark.line + 1
                walk(value, p)

    walk(yaml.compose(text), ())
    return lines


def prompt_texts(prompts_dir: Path) -> dict[str, dict[str, str]]:
    """{locale: {key: text}} for every locale directory with a prompts.yaml."""
    out = {}
    for locale_dir in sorted(p for p in Path(prompts_dir).iterdir() if (p / "prompts.yaml").is_file()):
        data = yaml.safe_load((locale_dir / "prompts.yaml").read_text(encoding="utf-8")) or {}
        out[locale_dir.name] = {str(k): str(v) for k, v in data.items()}
    return out


INT_KEYS = ("timeout_ms", "retries", "max_digits", "end_silence_ms")
STR_KEYS = ("next", "step", "reprompt", "on_no_input", "on_no_match", "result", "action", "capture", "keypad")


def _types_ok(spec: dict, kind: str, name: str, at, fname: str, problems: list) -> bool:
    """Values of the wrong type are problems of the file, not exceptions of the loader."""
    ok = True
    for key in INT_KEYS:
        value = spec.get(key)
        if key in spec and not (isinstance(value, int) and not isinstance(value, bool) and value >= 0
                                or isinstance(value, str) and value.strip().isdigit()):
            problems.append(Problem(fname, at(name, key), f"node {name!r}: {key} must be a whole number >= 0, "
                                                          f"got {value!r}"))
            ok = False
    text_keys = STR_KEYS + ((kind,) if kind in ("say", "ask", "transfer", "branch") else ())
    for key in text_keys:
        if spec.get(key) is not None and not isinstance(spec[key], str):
            problems.append(Problem(fname, at(name, key), f"node {name!r}: {key} must be a name, got {spec[key]!r}"))
            ok = False
    if spec.get("when") is not None and not isinstance(spec["when"], dict):
        problems.append(Problem(fname, at(name, "when"), f"node {name!r}: when must be a mapping intent: node"))
        ok = False
    return ok


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def load(path: str | Path, prompts_dir: str | Path, *, grammar=None) -> Flow:
    """Parse and check a flow file. Raises FlowError listing every problem found."""
    path = Path(path)
    fname = str(path)
    problems: list[Problem] = []
    try:
        text = path.read_text(encoding="utf-8")
        data = yaml.safe_load(text)
        lines = _line_map(text)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        mark = getattr(exc, "problem_mark", None)
        raise FlowError([Problem(fname, mark.line + 1 if mark else 0, f"cannot read flow: {exc}")]) from None
    if not isinstance(data, dict) or not isinstance(data.get("nodes"), dict):
        raise FlowError([Problem(fname, 1, "a flow needs `flow`, `start` and a `nodes` mapping")])

    def at(*keys) -> int:
        return lines.get(("nodes",) + keys, lines.get(("nodes",), 1))

    nodes: dict[str, Node] = {}
    for name, spec in data["nodes"].items():
        name = str(name)
        if not isinstance(spec, dict):
            problems.append(Problem(fname, at(name), f"node {name!r} must be a mapping"))
            continue
        kinds = [k for k in KINDS if k in spec]
        if len(kinds) != 1:
            problems.append(Problem(fname, at(name), f"node {name!r} needs exactly one of {', '.join(KINDS)}"))
            continue
        for key in spec:
            if key not in NODE_KEYS:
                problems.append(Problem(fname, at(name, str(key)), f"node {name!r}: unknown key {key!r}"))
        kind = kinds[0]
        if not _types_ok(spec, kind, name, at, fname, problems):
            continue
        node = Node(name=name, kind=kind, line=at(name),
                    prompt=spec[kind] if kind in ("say", "ask", "transfer") else None,
                    next=spec.get("next"), when={str(k): str(v) for k, v in (spec.get("when") or {}).items()},
                    step=spec.get("step"), reprompt=spec.get("reprompt"),
                    timeout_ms=int(spec.get("timeout_ms", 5000)), retries=int(spec.get("retries", 1)),
                    max_digits=int(spec.get("max_digits", 1)), on_no_input=spec.get("on_no_input"),
                    on_no_match=spec.get("on_no_match"), condition=spec.get("branch") if kind == "branch" else None,
                    result=spec.get("result"), action=spec.get("action"), capture=spec.get("capture"),
                    keypad=spec.get("keypad", "menu"),
                    readback=tuple(str(i) for i in spec["readback"]) if isinstance(spec.get("readback"), list) else (),
                    end_silence_ms=(int(spec["end_silence_ms"]) if "end_silence_ms" in spec
                                    else END_SILENCE_MS.get(spec.get("step"))))
        nodes[name] = node
        if kind == "say" and not node.next:
            problems.append(Problem(fname, node.line, f"say node {name!r} needs `next`"))
        if kind == "ask":
            if node.step not in STEPS:
                problems.append(Problem(fname, at(name, "step") if "step" in spec else node.line,
                                        f"ask node {name!r}: step must be one of {', '.join(STEPS)}"))
            for key in ("on_no_input", "on_no_match"):
                if not spec.get(key):
                    problems.append(Problem(fname, node.line, f"ask node {name!r} needs `{key}`"))
            if not node.when:
                problems.append(Problem(fname, node.line, f"ask node {name!r} needs `when` intents"))
        if kind == "branch":
            if node.condition not in CONDITIONS:
                problems.append(Problem(fname, at(name, "branch"),
                                        f"branch {name!r}: unknown condition {node.condition!r}"))
            if set(node.when) != {"true", "false"}:
                problems.append(Problem(fname, node.line, f"branch {name!r} needs when: 'true' and 'false'"))
        if node.keypad not in KEYPAD_MODES:
            problems.append(Problem(fname, at(name, "keypad"), f"node {name!r}: keypad must be one of "
                                                               f"{', '.join(KEYPAD_MODES)}"))
        if "readback" in spec and not (isinstance(spec["readback"], list)
                                       and all(str(i) in node.when for i in spec["readback"])):
            problems.append(Problem(fname, at(name, "readback"), f"node {name!r}: readback must list intents "
                                                                 f"of its `when`"))
        if node.capture and node.capture not in CAPTURES:
            problems.append(Problem(fname, at(name, "capture"), f"node {name!r}: unknown capture {node.capture!r}"))
        if node.action and node.action not in ACTIONS:
            problems.append(Problem(fname, at(name, "action"), f"node {name!r}: unknown action {node.action!r}"))

    start = str(data.get("start", ""))
    if start not in nodes:
        problems.append(Problem(fname, lines.get(("start",), 1), f"start node {start!r} does not exist"))
    for node in nodes.values():
        for target in node.targets():
            if target not in nodes:
                problems.append(Problem(fname, node.line, f"node {node.name!r} goes to missing node {target!r}"))

    # reachability
    seen, todo = set(), [start] if start in nodes else []
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        todo.extend(t for t in nodes[current].targets() if t in nodes)
    for node in nodes.values():
        if node.name not in seen:
            problems.append(Problem(fname, node.line, f"node {node.name!r} is unreachable from {start!r}"))

    # prompts and grammars in every locale
    texts = prompt_texts(Path(prompts_dir))
    if not texts:
        problems.append(Problem(fname, 1, f"no locales with prompts.yaml under {prompts_dir}"))
    if grammar is None:
        from .intents import grammar as grammar  # noqa: PLW0127 - the real grammars by default
    for node in nodes.values():
        for key in filter(None, (node.prompt, node.reprompt)):
            for locale, table in texts.items():
                pfile = str(Path(prompts_dir) / locale / "prompts.yaml")
                if key not in table:
                    problems.append(Problem(fname, node.line, f"node {node.name!r}: prompt {key!r} missing in {pfile}"))
                    continue
                unknown = placeholders(table[key]) - PLACEHOLDERS
                if unknown:
                    problems.append(Problem(pfile, 0, f"prompt {key!r} uses unknown placeholder(s) "
                                                      f"{', '.join(sorted(unknown))}"))
        if node.kind == "ask" and node.step in STEPS:
            for locale, table in texts.items():
                pfile = str(Path(prompts_dir) / locale / "prompts.yaml")
                keypad = {"date": ["keypad_date"], "time": ["keypad_time"]}.get(
                    node.keypad, [f"keypad_{node.name}", f"keypad_{node.step}"])
                if not any(k in table for k in keypad):
                    problems.append(Problem(fname, node.line, f"node {node.name!r}: no keypad prompt "
                                                              f"({' or '.join(keypad)}) in {pfile}"))
                for intent in node.when:
                    if intent in node.readback:
                        continue
                    heard = [f"heard_{node.name}_{intent}", f"heard_{node.step}_{intent}", f"heard_{intent}"]
                    if not any(k in table for k in heard):
                        problems.append(Problem(fname, node.line, f"node {node.name!r}: no prompt to confirm "
                                                                  f"{intent!r} ({' or '.join(heard)}) in {pfile}"))
            for locale in texts:
                try:
                    phrases = grammar(locale, node.step)
                except Exception as exc:  # a grammar table bug must show as a flow problem, not a crash
                    phrases, why = None, str(exc)
                else:
                    why = "empty"
                if not phrases:
                    problems.append(Problem(fname, node.line, f"node {node.name!r}: no {locale} grammar for step "
                                                              f"{node.step!r} ({why})"))
    if problems:
        raise FlowError(problems)
    return Flow(name=str(data.get("flow", path.stem)), start=start, nodes=nodes, file=fname)
